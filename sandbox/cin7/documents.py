"""Native Cin7 Core documents: JSON text in and out, dates, and the columns a record is filtered by.

Every function here is pure: it turns a native record into what `Cin7Record` stores, or stored text back into JSON.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal

from sandbox.cin7.models import Cin7Record

Kind = Cin7Record.Kind

# The list key each paged endpoint answers with (sources.md §3.3).
LIST_KEYS = {
    "CustomerList": Kind.CUSTOMER,
    "SupplierList": Kind.SUPPLIER,
    "Products": Kind.PRODUCT,
    "ProductAvailabilityList": Kind.AVAILABILITY,
    "TaxRuleList": Kind.TAX_RULE,
    "Webhooks": Kind.WEBHOOK,
}


def _default(value):
    # Cin7 answers money as JSON numbers; a Decimal of 2-4 places prints exactly as its float repr.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, datetime):
        return cin7_datetime(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value) -> str:
    """JSON text as stored and served: key order kept, no ASCII escaping, Decimals as numbers."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_default)


def cin7_datetime(value: datetime) -> str:
    """Cin7's timestamp format, `yyyy-MM-ddTHH:mm:ss.fffZ`, in UTC."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def cin7_date(value: datetime) -> str:
    """Cin7's date-only fields (`2017-09-29T00:00:00`, no zone)."""
    return value.strftime("%Y-%m-%dT00:00:00")


def parse_datetime(value) -> datetime | None:
    """Parse Cin7's dates: `2018-01-30T06:07:43.46Z`, `2017-11-28T05:08:30.6407568Z`, `2017-09-29T00:00:00`.

    Times without a zone are UTC (Cin7 documents all times as UTC). Anything unparseable is None.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "").replace("z", "")
    offset = ""
    for sign in ("+", "-"):
        position = text.rfind(sign)
        if position > 10:
            text, offset = text[:position], text[position:]
            break
    if "." in text:
        main, fraction = text.split(".", 1)
        text = f"{main}.{(fraction + '000000')[:6]}"
    try:
        parsed = datetime.fromisoformat(text + offset)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def guid_key(value) -> str:
    return str(value or "").strip().lower()


def classify(record: dict) -> str | None:
    """Which kind of native record this is, judged by the fields only that kind has (None when unknown)."""
    if not isinstance(record, dict):
        return None
    if "SaleID" in record and "Amount" in record and record.get("Type") in ("Payment", "Refund"):
        return Kind.PAYMENT
    if "SaleID" in record and ("OrderNumber" in record or "CombinedInvoiceStatus" in record):
        return "sale_header"
    if "ExternalURL" in record:
        return Kind.WEBHOOK
    if "Components" in record or "TaxPercent" in record:
        return Kind.TAX_RULE
    if "SKU" in record and ("Available" in record or "OnHand" in record):
        return Kind.AVAILABILITY
    if "SKU" in record and "ID" in record:
        return Kind.PRODUCT
    if "AccountReceivable" in record:
        return Kind.CUSTOMER
    if "AccountPayable" in record:
        return Kind.SUPPLIER
    if "ID" in record and any(k in record for k in ("Order", "Quote", "Invoices", "CustomerID", "SaleOrderDate")):
        return Kind.SALE
    return None


def _lower_join(*parts) -> str:
    return " ".join(str(p) for p in parts if p).lower()


def record_columns(kind: str, record: dict) -> dict:
    """The filter columns of a customer, supplier, product, availability row, tax rule, payment or webhook."""
    columns = {
        "name": str(record.get("Name") or "")[:255],
        "sku": str(record.get("SKU") or "")[:255],
        "status": str(record.get("Status") or "")[:40],
        "modified_at": parse_datetime(record.get("LastModifiedOn")),
        "search": _lower_join(record.get("Name"), record.get("SKU")),
        "facets": {},
    }
    if kind == Kind.TAX_RULE:
        columns["facets"] = {
            "IsActive": bool(record.get("IsActive")),
            "IsTaxForSale": bool(record.get("IsTaxForSale")),
            "IsTaxForPurchase": bool(record.get("IsTaxForPurchase")),
            "Account": str(record.get("Account") or ""),
        }
    elif kind == Kind.AVAILABILITY:
        columns["facets"] = {"Location": str(record.get("Location") or "")}
    elif kind == Kind.PAYMENT:
        columns["sale_key"] = guid_key(record.get("SaleID"))
        columns["modified_at"] = parse_datetime(record.get("DateCreated"))
    elif kind == Kind.WEBHOOK:
        columns["status"] = "active" if record.get("IsActive") else "inactive"
        columns["facets"] = {"Type": str(record.get("Type") or "")}
    return columns


# saleList filter parameter -> the list-entry field it compares, as-is (sources.md §3.3).
SALE_FILTERS = {
    "Status": "Status",
    "QuoteStatus": "QuoteStatus",
    "OrderStatus": "OrderStatus",
    "CombinedPickStatus": "CombinedPickingStatus",
    "CombinedPackStatus": "CombinedPackingStatus",
    "CombinedShippingStatus": "CombinedShippingStatus",
    "CombinedInvoiceStatus": "CombinedInvoiceStatus",
    "CreditNoteStatus": "CreditNoteStatus",
    "ExternalID": "ExternalID",
    "OrderLocationID": "OrderLocationID",
}


def _last(items):
    return items[-1] if items else {}


def sale_header(sale: dict) -> dict:
    """The /saleList entry of a full sale (headers only), in the field order Cin7 lists them."""
    order = sale.get("Order") or {}
    quote = sale.get("Quote") or {}
    invoices = [i for i in sale.get("Invoices") or [] if isinstance(i, dict)]
    credit_notes = [c for c in sale.get("CreditNotes") or [] if isinstance(c, dict)]
    invoice = _last(invoices)
    credit = _last(credit_notes)
    paid = sum((_money(p.get("Amount")) for i in invoices for p in i.get("Payments") or []), Decimal("0"))
    fulfilments = sale.get("Fulfilments") or []
    tracking = [
        str(line.get("TrackingNumber"))
        for f in fulfilments
        if isinstance(f, dict)
        for line in ((f.get("Ship") or {}).get("Lines") or [])
        if isinstance(line, dict) and line.get("TrackingNumber")
    ]
    return {
        "BaseCurrency": sale.get("BaseCurrency"),
        "CombinedInvoiceStatus": sale.get("CombinedInvoiceStatus"),
        "CombinedPackingStatus": sale.get("CombinedPackingStatus"),
        "CombinedPaymentStatus": sale.get("CombinedPaymentStatus"),
        "CombinedPickingStatus": sale.get("CombinedPickingStatus"),
        "CombinedShippingStatus": sale.get("CombinedShippingStatus"),
        "CombinedTrackingNumbers": ", ".join(tracking),
        "CreditNoteNumber": credit.get("CreditNoteNumber"),
        "CreditNoteStatus": credit.get("Status") or "NOT AVAILABLE",
        "Customer": sale.get("Customer"),
        "CustomerCurrency": sale.get("CustomerCurrency"),
        "CustomerID": sale.get("CustomerID"),
        "CustomerReference": sale.get("CustomerReference"),
        "ExternalID": sale.get("ExternalID"),
        "FulFilmentStatus": sale.get("FulFilmentStatus"),
        "InvoiceAmount": invoice.get("Total", 0),
        "InvoiceDate": invoice.get("InvoiceDate"),
        "InvoiceDueDate": invoice.get("InvoiceDueDate"),
        "InvoiceNumber": invoice.get("InvoiceNumber"),
        "OrderDate": sale.get("SaleOrderDate"),
        "OrderLocationID": sale.get("LocationID") or sale.get("OrderLocationID"),
        "OrderNumber": order.get("SaleOrderNumber"),
        "OrderStatus": order.get("Status") or "NOT AVAILABLE",
        "PaidAmount": paid,
        "QuoteStatus": quote.get("Status") or "NOT AVAILABLE",
        "SaleID": sale.get("ID"),
        "ShipBy": sale.get("ShipBy"),
        "SourceChannel": sale.get("SourceChannel"),
        "Status": sale.get("Status"),
        "Type": sale.get("Type"),
        "Updated": sale.get("LastModifiedOn"),
    }


def credit_note_header(sale: dict, header: dict) -> dict | None:
    """The /saleCreditNoteList entry of a sale with credit notes (its list entry plus the restock status)."""
    credit_notes = [c for c in sale.get("CreditNotes") or [] if isinstance(c, dict)]
    if not credit_notes:
        return None
    restock = _last([r for c in credit_notes for r in c.get("Restock") or [] if isinstance(r, dict)])
    entry = dict(header)
    entry["RestockStatus"] = restock.get("Status") or "NOT AVAILABLE"
    return dict(sorted(entry.items()))


def sale_columns(header: dict) -> dict:
    """The filter columns of a sale, taken from its list entry (loaded or derived)."""
    return {
        "name": str(header.get("Customer") or "")[:255],
        "status": str(header.get("Status") or "")[:40],
        "modified_at": parse_datetime(header.get("Updated")),
        "created_on": parse_datetime(header.get("OrderDate")),
        "search": _lower_join(
            header.get("OrderNumber"),
            header.get("Customer"),
            header.get("CustomerReference"),
            header.get("InvoiceNumber"),
        ),
        "facets": {name: str(header.get(field) or "") for name, field in SALE_FILTERS.items()},
    }


def _money(value) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    return Decimal(str(value))


def sale_payments(sale: dict) -> list[dict]:
    """Payments and refunds of a full sale as /sale/payment lists them (a bare array)."""
    rows = []
    order_number = (sale.get("Order") or {}).get("SaleOrderNumber")
    for invoice in sale.get("Invoices") or []:
        for payment in invoice.get("Payments") or []:
            rows.append(
                _payment_row(payment, sale, order_number, invoice.get("TaskID"), "Payment")
                | {"InvoiceNumber": invoice.get("InvoiceNumber"), "CreditNoteNumber": None}
            )
    for credit in sale.get("CreditNotes") or []:
        for refund in credit.get("Refunds") or []:
            rows.append(
                _payment_row(refund, sale, order_number, credit.get("TaskID"), "Refund")
                | {"InvoiceNumber": None, "CreditNoteNumber": credit.get("CreditNoteNumber")}
            )
    return [dict(sorted(row.items())) for row in rows]


def _payment_row(payment, sale, order_number, task_id, kind) -> dict:
    return {
        "Account": payment.get("Account"),
        "Amount": payment.get("Amount"),
        "CreditID": payment.get("CreditID"),
        "CurrencyRate": payment.get("CurrencyRate"),
        "DateCreated": payment.get("DateCreated"),
        "DatePaid": payment.get("DatePaid"),
        "ID": payment.get("ID"),
        "Reference": payment.get("Reference"),
        "SaleID": sale.get("ID"),
        "SaleOrderNumber": order_number,
        "TaskID": task_id,
        "Type": kind,
    }
