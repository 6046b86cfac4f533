"""One generated Cin7 Core sale with its order, invoice, payments and credit notes (see `generator`)."""

from datetime import timedelta
from decimal import Decimal

from sandbox.cin7 import documents
from sandbox.cin7.sales import cents, line_amounts, task_totals

# Base-currency units per customer-currency unit (Cin7's CurrencyRate).
FX = {"USD": Decimal("1.5234"), "NZD": Decimal("0.9187"), "GBP": Decimal("1.9412"), "EUR": Decimal("1.6321")}
EXCLUSIVE_MIX = ("GST on Income",) * 6 + ("Reduced Rate 5%", "BAS Excluded")
INCLUSIVE_MIX = ("GST on Income (Inclusive)",) * 4 + ("VAT 20% (Inclusive)", "Zero Rated (Inclusive)")
SCENARIOS = (
    ("ordered", 14),
    ("invoiced", 14),
    ("partially_paid", 10),
    ("paid", 30),
    ("voided", 8),
    ("credited_full", 7),
    ("credited_partial", 11),
    ("edited_after_invoice", 6),
)
DISCOUNTS = (Decimal("0"),) * 7 + (Decimal("5"), Decimal("10"), Decimal("12.5"), Decimal("100"))
ZERO = Decimal("0")


def _line(product, quantity, price, discount, rule, rules, inclusive):
    percent, _ = rules[rule]
    total, tax = line_amounts(quantity=quantity, price=price, discount=discount, percent=percent, inclusive=inclusive)
    return {
        "ProductID": product["ID"],
        "SKU": product["SKU"],
        "Name": product["Name"],
        "Quantity": quantity,
        "Price": price,
        "Discount": discount,
        "Tax": tax,
        "AverageCost": product["AverageCost"],
        "TaxRule": rule,
        "Comment": "",
        "DropShip": False,
        "BackorderQuantity": 0,
        "Total": total,
    }


def _charge(description, price, discount, rule, rules, inclusive):
    percent, _ = rules[rule]
    total, tax = line_amounts(
        quantity=Decimal("1"), price=price, discount=discount, percent=percent, inclusive=inclusive
    )
    return {
        "Description": description,
        "Price": price,
        "Quantity": Decimal("1"),
        "Discount": discount,
        "Tax": tax,
        "Total": total,
        "TaxRule": rule,
        "Comment": "",
        "Account": "260",
    }


def _with_totals(task, inclusive):
    before, tax, total = task_totals(lines=task["Lines"], charges=task["AdditionalCharges"], inclusive=inclusive)
    task["TotalBeforeTax"], task["Tax"], task["Total"] = before, tax, total
    return task


def _payment(ids, sale_n, n, amount, when, rate, reference):
    return {
        "ID": ids("payment", sale_n, n),
        "Reference": reference,
        "Amount": amount,
        "DatePaid": documents.cin7_date(when),
        "Account": "090",
        "CurrencyRate": rate,
        "DateCreated": documents.cin7_datetime(when),
    }


def _invoice_lines(lines):
    return [
        {k: v for k, v in line.items() if k not in ("DropShip", "BackorderQuantity")} | {"Account": "200"}
        for line in lines
    ]


def build_sale(ids, rng, n, number, customer, products, rules, when, account):
    """A full sale as GET /sale answers it, plus `_scenario` (removed by the caller) naming its story."""
    scenario = rng.choices([s for s, _ in SCENARIOS], weights=[w for _, w in SCENARIOS])[0]
    currency = customer["Currency"]
    base = account.base_currency
    rate = FX.get(currency, Decimal("1")) if currency != base else Decimal("1")
    default_rule = customer["TaxRule"]
    _, inclusive = rules[default_rule]
    mix = ("GST Free Exports",) if currency != base else (INCLUSIVE_MIX if inclusive else EXCLUSIVE_MIX)
    lines = []
    for product in rng.sample(products, k=rng.randint(1, min(5, len(products)))):
        quantity = Decimal(rng.choice((1, 1, 2, 3, 5, 10))) if rng.random() < 0.9 else Decimal("1.5")
        price = (Decimal(str(product["PriceTier1"])) / rate).quantize(Decimal("0.0001"))
        lines.append(_line(product, quantity, price, rng.choice(DISCOUNTS), rng.choice(mix), rules, inclusive))
    charges = []
    if rng.random() < 0.6:
        charges.append(
            _charge("Freight", Decimal(rng.choice(("9.95", "14.50", "25"))), ZERO, default_rule, rules, inclusive)
        )
    if rng.random() < 0.1:
        charges.append(_charge("Card surcharge", Decimal("3.20"), Decimal("50"), default_rule, rules, inclusive))
    order_number = f"SO-{number:05d}"
    order = _with_totals(
        {
            "SaleOrderNumber": order_number,
            "Memo": "",
            "Status": "AUTHORISED",
            "Lines": lines,
            "AdditionalCharges": charges,
        },
        inclusive,
    )
    contact = customer["Contacts"][0]
    address = customer["Addresses"][0]
    modified = when + timedelta(hours=1)
    sale = {
        "ID": ids("sale", n),
        "Type": "Simple Sale",
        "Customer": customer["Name"],
        "CustomerID": customer["ID"],
        "Contact": contact["Name"],
        "Phone": contact["Phone"],
        "Email": contact["Email"],
        "DefaultAccount": "200",
        "SkipQuote": True,
        "BillingAddress": {
            "DisplayAddressLine1": address["Line1"],
            "DisplayAddressLine2": f"{address['City']} {address['State']} {address['Postcode']}",
            "Line1": address["Line1"],
            "Line2": address["Line2"],
            "City": address["City"],
            "State": address["State"],
            "Postcode": address["Postcode"],
            "Country": address["Country"],
        },
        "ShippingAddress": {
            "DisplayAddressLine1": address["Line1"],
            "DisplayAddressLine2": f"{address['City']} {address['State']} {address['Postcode']}",
            "Line1": address["Line1"],
            "Line2": address["Line2"],
            "City": address["City"],
            "State": address["State"],
            "Postcode": address["Postcode"],
            "Country": address["Country"],
            "Company": customer["Name"],
            "Contact": contact["Name"],
            "ShipToOther": False,
        },
        "BaseCurrency": base,
        "CustomerCurrency": currency,
        "CurrencyRate": rate,
        "TaxRule": default_rule,
        "TaxCalculation": "Inclusive" if inclusive else "Exclusive",
        "Terms": customer["PaymentTerm"],
        "PriceTier": "Tier 1",
        "ShipBy": documents.cin7_date(when + timedelta(days=3)),
        "Location": "Main Warehouse",
        "LocationID": ids("location", "main"),
        "SaleOrderDate": documents.cin7_date(when),
        "LastModifiedOn": None,
        "Note": "",
        "CustomerReference": f"PO-{number * 7 % 100000:05d}" if rng.random() < 0.5 else "",
        "SalesRepresentative": None,
        "ServiceOnly": False,
        "ExternalID": None,
        "SourceChannel": rng.choice((None, "Shopify", "Amazon_AU")),
        "Status": "ORDERED",
        "CombinedPickingStatus": "NOT PICKED",
        "CombinedPackingStatus": "NOT PACKED",
        "CombinedShippingStatus": "NOT SHIPPED",
        "CombinedInvoiceStatus": "NOT INVOICED",
        "CombinedPaymentStatus": "UNPAID",
        "FulFilmentStatus": "NOT FULFILLED",
        "Quote": {
            "Memo": None,
            "Status": "NOT AVAILABLE",
            "Prepayments": [],
            "Lines": [],
            "AdditionalCharges": [],
            "TotalBeforeTax": 0,
            "Tax": 0,
            "Total": 0,
        },  # fmt: skip
        "Order": order,
        "Fulfilments": [],
        "Invoices": [],
        "CreditNotes": [],
        "ManualJournals": {"Status": "NOT AVAILABLE", "Lines": []},
        "Transactions": [],
        "InventoryMovements": [],
        "Attachments": [],
        "AdditionalAttributes": {},
    }
    _live(sale, scenario, ids, rng, n, number, when, rate, inclusive, rules)
    sale["LastModifiedOn"] = documents.cin7_datetime(max(modified, sale.pop("_modified", modified)))
    sale["_scenario"] = scenario
    return sale


def _live(sale, scenario, ids, rng, n, number, when, rate, inclusive, rules):
    """Move the sale through its story: invoice, payments, edits, voiding, credit notes."""
    order = sale["Order"]
    if scenario == "voided" and rng.random() < 0.5:
        order["Status"] = "VOIDED"
        sale["Status"], sale["CombinedPaymentStatus"] = "VOIDED", "VOIDED"
        sale["_modified"] = when + timedelta(days=1)
        return
    if scenario == "ordered":
        return
    invoice_date = when + timedelta(days=2)
    invoice = _with_totals(
        {
            "TaskID": ids("invoice", n),
            "InvoiceNumber": f"INV-{number:05d}",
            "Memo": "",
            "Status": "AUTHORISED",
            "InvoiceDate": documents.cin7_date(invoice_date),
            "InvoiceDueDate": documents.cin7_date(invoice_date + timedelta(days=30)),
            "CurrencyConversionRate": rate,
            "BillingAddressLine1": sale["BillingAddress"]["Line1"],
            "BillingAddressLine2": sale["BillingAddress"]["Line2"],
            "LinkedFulfillmentNumber": "1",
            "Lines": _invoice_lines(order["Lines"]),
            "AdditionalCharges": [dict(c) for c in order["AdditionalCharges"]],
            "Payments": [],
        },
        inclusive,
    )
    invoice["Paid"] = ZERO
    sale["Invoices"] = [invoice]
    sale["Status"], sale["CombinedInvoiceStatus"] = "INVOICED", "INVOICED"
    sale["CombinedPickingStatus"], sale["CombinedPackingStatus"] = "PICKED", "PACKED"
    sale["CombinedShippingStatus"], sale["FulFilmentStatus"] = "SHIPPED", "FULFILLED"
    sale["_modified"] = invoice_date
    if scenario == "voided":
        invoice["Status"] = order["Status"] = sale["Status"] = "VOIDED"
        sale["CombinedPaymentStatus"] = "VOIDED"
        sale["_modified"] = invoice_date + timedelta(days=1)
        return
    if scenario == "edited_after_invoice":
        # A quantity corrected after invoicing: Cin7 re-authorises order and invoice with new totals.
        line, inv_line = order["Lines"][0], invoice["Lines"][0]
        quantity = line["Quantity"] + 1
        percent_rule = line["TaxRule"]
        total, tax = line_amounts(quantity=quantity, price=line["Price"], discount=line["Discount"],
                                  percent=rules[percent_rule][0], inclusive=inclusive)  # fmt: skip
        for target in (line, inv_line):
            target["Quantity"], target["Total"], target["Tax"] = quantity, total, tax
        _with_totals(order, inclusive)
        _with_totals(invoice, inclusive)
        invoice["Memo"] = order["Memo"] = "Quantity corrected after invoicing"
        sale["_modified"] = invoice_date + timedelta(days=3)
    if scenario == "invoiced":
        return
    paid_on = invoice_date + timedelta(days=rng.randint(1, 20))
    total = invoice["Total"]
    if scenario == "partially_paid":
        amounts = [cents(total * Decimal(rng.choice(("0.25", "0.4", "0.5"))))]
    elif total > 50 and rng.random() < 0.3:
        first = cents(total / 3)
        amounts = [first, total - first]
    else:
        amounts = [total]
    # A fully discounted invoice has nothing to pay: no payment line, and it counts as paid.
    amounts = [a for a in amounts if a > 0]
    for i, amount in enumerate(amounts):
        invoice["Payments"].append(
            _payment(ids, n, i, amount, paid_on + timedelta(days=i), rate, f"PAY-{number}-{i + 1}")
        )
    invoice["Paid"] = sum(amounts, ZERO)
    fully_paid = invoice["Paid"] == total
    invoice["Status"] = "PAID" if fully_paid else "AUTHORISED"
    sale["CombinedPaymentStatus"] = "PAID" if fully_paid else "PARTIALLY PAID"
    sale["Status"] = "COMPLETED" if fully_paid else "INVOICED"
    sale["_modified"] = max(sale["_modified"], paid_on + timedelta(days=len(amounts)))
    if scenario in ("credited_full", "credited_partial"):
        _credit(sale, invoice, scenario == "credited_full", ids, rng, n, number, paid_on, rate, inclusive, rules)


def _credit(sale, invoice, full, ids, rng, n, number, paid_on, rate, inclusive, rules):
    credit_date = paid_on + timedelta(days=rng.randint(3, 30))
    if full:
        lines = [dict(line) for line in invoice["Lines"]]
        charges = [dict(c) for c in invoice["AdditionalCharges"]]
    else:
        source = invoice["Lines"][0]
        quantity = Decimal("1") if source["Quantity"] >= 2 else source["Quantity"] / 2
        total, tax = line_amounts(quantity=quantity, price=source["Price"], discount=source["Discount"],
                                  percent=rules[source["TaxRule"]][0], inclusive=inclusive)  # fmt: skip
        lines = [source | {"Quantity": quantity, "Total": total, "Tax": tax}]
        charges = []
    credit = _with_totals(
        {
            "TaskID": ids("credit", n),
            "CreditNoteInvoiceNumber": invoice["InvoiceNumber"],
            "CreditNoteNumber": f"CR-{number:05d}",
            "CreditNoteDate": documents.cin7_date(credit_date),
            "Memo": "Return" if not full else "Order cancelled after payment",
            "Status": "AUTHORISED",
            "Lines": lines,
            "AdditionalCharges": charges,
            "Restock": [],
            "Refunds": [],
        },
        inclusive,
    )
    refunded = full or rng.random() < 0.5
    if refunded and credit["Total"] > 0:
        refund = _payment(ids, n, "refund", credit["Total"], credit_date, rate, f"REF-{number}")
        credit["Refunds"].append(refund)
    sale["CreditNotes"] = [credit]
    sale["Status"], sale["CombinedInvoiceStatus"] = "CREDITED", "INVOICED / CREDITED"
    if not credit["Refunds"]:
        sale["CombinedPaymentStatus"] = "NOT REFUNDED"
    sale["_modified"] = credit_date
