"""Generated Cin7 Core sales add up to the cent as Cin7 computes them, and tell the stories a sync must survive."""

from decimal import ROUND_HALF_UP, Decimal

from sandbox.cin7.generator import generate
from sandbox.faults import fault_profile_set


def d(value) -> Decimal:
    return Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_task(task, percents, inclusive):
    for line in [*task["Lines"], *task["AdditionalCharges"]]:
        total = cents(d(line["Quantity"]) * d(line["Price"]) * (100 - d(line["Discount"])) / 100)
        assert d(line["Total"]) == total
        rate = percents[line["TaxRule"]]
        expected_tax = cents(total * rate / (100 + rate)) if inclusive else cents(total * rate / 100)
        assert d(line["Tax"]) == expected_tax
    amount = sum((d(x["Total"]) for x in [*task["Lines"], *task["AdditionalCharges"]]), Decimal(0))
    tax = sum((d(x["Tax"]) for x in [*task["Lines"], *task["AdditionalCharges"]]), Decimal(0))
    assert d(task["Tax"]) == tax
    if inclusive:
        assert d(task["Total"]) == amount and d(task["TotalBeforeTax"]) == amount - tax
    else:
        assert d(task["TotalBeforeTax"]) == amount and d(task["Total"]) == amount + tax


def test_every_generated_sale_adds_up_to_the_cent(client_a, account_a):
    counts = generate(account=account_a.account_id, seed=11, customers=40, orders=150)
    # One GET per sale: more than Cin7's 60 calls a minute, so switch the account's own limit off.
    fault_profile_set(system="cin7", account=account_a.account_id, rate_limits_enabled=False)
    rules = client_a.get("ref/tax").json()["TaxRuleList"]
    percents = {r["Name"]: d(r["Components"][0]["Percent"]) for r in rules}
    assert {r["TaxInclusive"] for r in rules} == {True, False}
    sales = client_a.get("saleList", params={"Limit": 1000}).json()["SaleList"]
    assert len(sales) == counts["sales"] == 150
    seen = set()
    for entry in sales:
        sale = client_a.get("sale", params={"ID": entry["SaleID"]}).json()
        inclusive = sale["TaxCalculation"] == "Inclusive"
        check_task(sale["Order"], percents, inclusive)
        for invoice in sale["Invoices"]:
            check_task(invoice, percents, inclusive)
            paid = sum((d(p["Amount"]) for p in invoice["Payments"]), Decimal(0))
            assert paid == d(invoice["Paid"]) and paid <= d(invoice["Total"])
            if invoice["Status"] == "PAID":
                assert paid == d(invoice["Total"])
            elif invoice["Status"] == "AUTHORISED":
                assert paid < d(invoice["Total"]) or paid == 0
        for credit in sale["CreditNotes"]:
            check_task(credit, percents, inclusive)
            assert d(credit["Total"]) <= d(sale["Invoices"][0]["Total"])
            assert sum((d(r["Amount"]) for r in credit["Refunds"]), Decimal(0)) in (Decimal(0), d(credit["Total"]))
            seen.add("full credit" if d(credit["Total"]) == d(sale["Invoices"][0]["Total"]) else "partial credit")
        if sale["CustomerCurrency"] != sale["BaseCurrency"]:
            assert d(sale["CurrencyRate"]) != 1
            seen.add("foreign")
        seen.add(sale["Status"])
        seen.add(sale["TaxCalculation"])
        if any(d(line["Discount"]) > 0 for line in sale["Order"]["Lines"]):
            seen.add("discount")
        if sale["Order"]["AdditionalCharges"]:
            seen.add("charges")
        if sale["Invoices"] and sale["Order"]["Memo"] == "Quantity corrected after invoicing":
            assert sale["LastModifiedOn"][:10] > sale["Invoices"][0]["InvoiceDate"][:10]
            seen.add("edited")
        assert entry["OrderNumber"] == sale["Order"]["SaleOrderNumber"]
    expected = {"VOIDED", "CREDITED", "COMPLETED", "INVOICED", "ORDERED", "Inclusive", "Exclusive", "foreign",
                "discount", "charges", "edited", "full credit", "partial credit"}  # fmt: skip
    assert expected <= seen


def test_customers_share_names_with_different_emails(client_a, account_a):
    counts = generate(account=account_a.account_id, seed=5, customers=80, orders=1)
    customers = client_a.get("customer", params={"Limit": 500}).json()["CustomerList"]
    assert len(customers) == 80 and counts["duplicate_customer_names"] > 0
    by_name = {}
    for customer in customers:
        by_name.setdefault(customer["Name"], set()).add(customer["Contacts"][0]["Email"])
    shared = [emails for emails in by_name.values() if len(emails) > 1]
    assert shared
    assert len({c["Contacts"][0]["Email"] for c in customers}) == 80


def test_same_seed_same_data_and_accounts_do_not_share_ids(client_a, client_b, account_a, account_b):
    first = generate(account=account_a.account_id, seed=9, customers=5, orders=10)
    again = generate(account=account_a.account_id, seed=9, customers=5, orders=10)
    assert first == again
    assert client_a.get("saleList").json()["Total"] == 10
    generate(account=account_b.account_id, seed=9, customers=5, orders=10)
    ids_a = {s["SaleID"] for s in client_a.get("saleList").json()["SaleList"]}
    ids_b = {s["SaleID"] for s in client_b.get("saleList").json()["SaleList"]}
    assert len(ids_a) == 10 and not ids_a & ids_b
