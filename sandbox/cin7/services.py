"""Writes to the simulated Cin7 Core world: accounts, native records, and the API's own writes.

Webhook subscriptions and deliveries live in `sandbox.cin7.webhooks`.
"""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandbox.cin7 import documents
from sandbox.cin7.errors import Cin7Error, Cin7TaskError, Cin7ValidationError
from sandbox.cin7.models import Cin7Account, Cin7Record
from sandbox.cin7.sales import cents

Kind = Cin7Record.Kind

API_PATH = "/sandbox/cin7/ExternalApi/v2/"


def account_ensure(*, name: str, base_currency: str = "AUD") -> Cin7Account:
    """Return the simulated Cin7 account called `name`, creating it with a fresh Account ID and key if new.

    Idempotent by name: the same name always gives the same credentials.
    """
    name = name.strip()
    if not name:
        raise ValueError("a Cin7 sandbox account needs a name")
    account, _ = Cin7Account.objects.get_or_create(
        name=name,
        defaults={
            "account_id": str(uuid.uuid4()),
            "application_key": str(uuid.uuid4()),
            "base_currency": base_currency,
        },
    )
    return account


def account_credentials(*, account: Cin7Account) -> dict:
    """What a connection to this account needs: base URL, Account ID and API Application key."""
    return {
        "name": account.name,
        "base_url": settings.SITE_URL.rstrip("/") + API_PATH,
        "account_id": account.account_id,
        "application_key": account.application_key,
    }


def account_set_limit_status(*, account: Cin7Account, status: int) -> Cin7Account:
    """Choose how the 60 calls/minute limit is answered: 429 (newer reference) or 503 (older blueprint)."""
    account.limit_status = Cin7Account.LimitStatus(status)
    account.save(update_fields=["limit_status", "updated_at"])
    return account


def account_resolve(account) -> Cin7Account:
    """The account for an Account ID, a name, or an account row (loaders and generators take any of them)."""
    if isinstance(account, Cin7Account):
        return account
    text = str(account).strip()
    found = Cin7Account.objects.filter(account_id__iexact=text).first() or Cin7Account.objects.filter(name=text).first()
    if found is None:
        raise ValueError(f"no Cin7 sandbox account {text!r}; create it with `manage.py sandbox_cin7_account --name`")
    return found


def record_store(*, account: Cin7Account, kind: str, record: dict) -> Cin7Record:
    """Store one native customer, supplier, product, availability row, tax rule, payment or webhook unchanged."""
    if kind == Kind.SALE:
        return sale_store(account=account, sale=record)
    key = documents.guid_key(record.get("ID"))
    if not key:
        raise Cin7ValidationError(f"a {kind} record needs an ID")
    if kind == Kind.AVAILABILITY:
        # Availability rows of one product repeat its ID per location, bin and batch.
        key = "|".join(documents.guid_key(record.get(f)) for f in ("ID", "Location", "Bin", "Batch"))
    columns = documents.record_columns(kind, record)
    row, _ = Cin7Record.objects.update_or_create(
        account=account, kind=kind, key=key, defaults={"body": documents.dumps(record), **columns}
    )
    return row


def sale_store(*, account: Cin7Account, sale: dict, keep_loaded_header: bool = True) -> Cin7Record:
    """Store a full sale (as GET /sale answers it) unchanged; its list entries are derived unless loaded."""
    key = documents.guid_key(sale.get("ID"))
    if not key:
        raise Cin7ValidationError("a sale needs an ID")
    row = Cin7Record.objects.filter(account=account, kind=Kind.SALE, key=key).first() or Cin7Record(
        account=account, kind=Kind.SALE, key=key
    )
    row.body = documents.dumps(sale)
    derived = documents.sale_header(sale)
    if not (keep_loaded_header and row.header_loaded):
        row.header, row.header_loaded = documents.dumps(derived), False
    if not (keep_loaded_header and row.credit_header_loaded):
        credit = documents.credit_note_header(sale, derived)
        row.credit_header, row.credit_header_loaded = (documents.dumps(credit) if credit else ""), False
    _apply(row, documents.sale_columns(json.loads(row.header)))
    row.save()
    return row


def sale_header_store(*, account: Cin7Account, header: dict, credit_list: bool) -> Cin7Record:
    """Store a /saleList (or /saleCreditNoteList) entry unchanged, with or without the full sale behind it."""
    key = documents.guid_key(header.get("SaleID"))
    if not key:
        raise Cin7ValidationError("a sale list entry needs a SaleID")
    row = Cin7Record.objects.filter(account=account, kind=Kind.SALE, key=key).first() or Cin7Record(
        account=account, kind=Kind.SALE, key=key
    )
    # A sale known only from the credit note list is listed there only: its /saleList entry is unknown.
    if credit_list:
        row.credit_header, row.credit_header_loaded = documents.dumps(header), True
    else:
        row.header, row.header_loaded = documents.dumps(header), True
    _apply(row, documents.sale_columns(json.loads(row.header or row.credit_header)))
    row.save()
    return row


def _apply(row, columns: dict) -> None:
    for field, value in columns.items():
        setattr(row, field, value)


def _new_id() -> str:
    return str(uuid.uuid4())


CUSTOMER_REQUIRED = ("Name", "Currency", "PaymentTerm", "AccountReceivable", "RevenueAccount", "TaxRule")


def customer_create(*, account: Cin7Account, data: dict) -> dict:
    """POST /customer: create a customer (Cin7 requires the fields in CUSTOMER_REQUIRED) and return it."""
    missing = [field for field in CUSTOMER_REQUIRED if not data.get(field)]
    if missing:
        raise Cin7ValidationError("; ".join(f"{field} is required" for field in missing))
    customer = {"ID": _new_id(), "Status": "Active", **{k: v for k, v in data.items() if k != "ID"}}
    customer["LastModifiedOn"] = documents.cin7_datetime(timezone.now())
    customer.setdefault("Contacts", [])
    customer.setdefault("Addresses", [])
    record_store(account=account, kind=Kind.CUSTOMER, record=customer)
    return customer


def customer_update(*, account: Cin7Account, data: dict) -> dict:
    """PUT /customer: change the fields given on the customer with that ID and fire Customer/Updated."""
    from sandbox.cin7.webhooks import webhook_event_emit

    key = documents.guid_key(data.get("ID"))
    row = Cin7Record.objects.filter(account=account, kind=Kind.CUSTOMER, key=key).first() if key else None
    if row is None:
        raise Cin7ValidationError(f"Customer with ID = {data.get('ID')} not found")
    customer = json.loads(row.body) | {k: v for k, v in data.items() if k != "ID"}
    customer["LastModifiedOn"] = documents.cin7_datetime(timezone.now())
    record_store(account=account, kind=Kind.CUSTOMER, record=customer)
    webhook_event_emit(
        account=account,
        event_type="Customer/Updated",
        payload={"ID": customer["ID"], "Name": customer.get("Name"), "EventType": "Customer/Updated"},
    )
    return customer


def _decimal(value, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except Exception as exc:
        raise Cin7ValidationError(f"{field} is not a number") from exc


@transaction.atomic
def sale_payment_create(*, account: Cin7Account, data: dict) -> dict:
    """POST /sale/payment: record a payment against an authorised invoice task of a sale.

    Refusals about the task itself (voided sale, unknown task, overpayment) are answered the way Cin7's task
    endpoints answer them: HTTP 200 with an `Errors` list. Fires Sale/PartialPaymentReceived or
    Sale/FullPaymentReceived.
    """
    from sandbox.cin7.webhooks import webhook_event_emit

    key = documents.guid_key(data.get("SaleID"))
    row = (
        Cin7Record.objects.select_for_update().filter(account=account, kind=Kind.SALE, key=key).first() if key else None
    )
    if row is None or not row.body:
        raise Cin7ValidationError(f"Sale with ID = {data.get('SaleID')} not found")
    amount = _decimal(data.get("Amount"), "Amount")
    if amount <= 0:
        raise Cin7ValidationError("Amount should be greater than zero")
    sale = json.loads(row.body)
    if sale.get("Status") == "VOIDED":
        raise Cin7TaskError("Sale is voided")
    invoices = sale.get("Invoices") or []
    task_key = documents.guid_key(data.get("TaskID"))
    invoice = next((i for i in invoices if documents.guid_key(i.get("TaskID")) == task_key), None)
    if invoice is None and not task_key and len(invoices) == 1:
        invoice = invoices[0]
    if invoice is None or invoice.get("Status") not in ("AUTHORISED", "PAID"):
        raise Cin7TaskError("Invoice task is not found or not authorised")
    paid = sum((Decimal(str(p.get("Amount") or 0)) for p in invoice.get("Payments") or []), Decimal("0"))
    outstanding = cents(Decimal(str(invoice.get("Total") or 0)) - paid)
    if amount > outstanding:
        raise Cin7TaskError(f"Payment amount {amount} is more than the amount due {outstanding}")
    now = timezone.now()
    payment = {
        "ID": _new_id(),
        "Reference": data.get("Reference") or "",
        "Amount": cents(amount),
        "DatePaid": data.get("DatePaid") or documents.cin7_date(now),
        "Account": data.get("Account") or "090",
        "CurrencyRate": data.get("CurrencyRate") or sale.get("CurrencyRate") or 1,
        "DateCreated": documents.cin7_datetime(now),
    }
    invoice.setdefault("Payments", []).append(payment)
    fully_paid = amount == outstanding
    invoice["Paid"] = cents(paid + amount)
    if fully_paid:
        invoice["Status"] = "PAID"
    sale["CombinedPaymentStatus"] = "PAID" if fully_paid else "PARTIALLY PAID"
    sale["LastModifiedOn"] = documents.cin7_datetime(now)
    sale_store(account=account, sale=sale, keep_loaded_header=False)
    event = "Sale/FullPaymentReceived" if fully_paid else "Sale/PartialPaymentReceived"
    webhook_event_emit(
        account=account,
        event_type=event,
        payload={
            "SaleID": sale.get("ID"),
            "SaleOrderNumber": (sale.get("Order") or {}).get("SaleOrderNumber"),
            "EventType": event,
        },
    )
    rows = [r for r in documents.sale_payments(sale) if r["ID"] == payment["ID"]]
    return rows[0]


def sale_event(*, account: Cin7Account, sale_id: str, event_type: str) -> int:
    """Fire a Sale/* webhook event for a stored sale, with the thin payload Cin7 sends for that event.

    For demos and tests of event-driven sync: the real account fires these when a user acts in the Cin7 UI.
    Returns the number of deliveries queued.
    """
    from sandbox.cin7.webhooks import sale_event_payload, webhook_event_emit

    row = Cin7Record.objects.filter(account=account, kind=Kind.SALE, key=documents.guid_key(sale_id)).first()
    if row is None:
        raise Cin7Error(f"Sale with ID = {sale_id} not found")
    sale = json.loads(row.body) if row.body else json.loads(row.header)
    return webhook_event_emit(
        account=account, event_type=event_type, payload=sale_event_payload(account, sale, event_type)
    )


def rate_window_expire(*, account: Cin7Account) -> None:
    """Move this account's minute window into the past, as if a minute had passed (tests and demos)."""
    from sandbox.models import RateCounter

    RateCounter.objects.filter(system="cin7", account=account.account_id).update(
        window_start=timezone.now() - timedelta(minutes=2)
    )


@transaction.atomic
def stock_adjustment_create(*, account: Cin7Account, data: dict) -> dict:
    """POST /stockadjustment: each line's Quantity becomes the on-hand quantity of its product at its location.

    Only COMPLETED adjustments move stock (a DRAFT is recorded and changes nothing); Available follows OnHand less
    what is allocated. Answers the adjustment with its TaskID.
    """
    status = str(data.get("Status") or "DRAFT").upper()
    lines = data.get("Lines")
    if status not in ("DRAFT", "COMPLETED"):
        raise Cin7ValidationError(f"Status '{data.get('Status')}' is not valid for a stock adjustment")
    if not isinstance(lines, list) or not lines:
        raise Cin7ValidationError("Stock adjustment should have at least one line")
    rows = []
    for index, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise Cin7ValidationError(f"Line {index} is not an object")
        quantity = _decimal(line.get("Quantity"), f"Line {index} Quantity")
        if quantity < 0:
            raise Cin7ValidationError(f"Line {index}: Quantity cannot be negative")
        sku, location = str(line.get("SKU") or ""), str(line.get("Location") or "")
        matches = Cin7Record.objects.select_for_update().filter(
            account=account, kind=Kind.AVAILABILITY, sku__iexact=sku
        )
        if location:
            matches = matches.filter(facets__Location__iexact=location)
        row = matches.order_by("key").first()
        if row is None:
            raise Cin7ValidationError(f"Line {index}: product with SKU '{sku}' not found at location '{location}'")
        rows.append((row, quantity))
    if status == "COMPLETED":
        for row, quantity in rows:
            record = json.loads(row.body)
            allocated = _decimal(record.get("Allocated") or 0, "Allocated")
            record.update({"OnHand": quantity, "StockOnHand": quantity, "Available": quantity - allocated})
            record_store(account=account, kind=Kind.AVAILABILITY, record=record)
    return {
        "TaskID": _new_id(),
        "EffectiveDate": data.get("EffectiveDate") or documents.cin7_datetime(timezone.now()),
        "Status": status,
        "Reference": str(data.get("Reference") or ""),
        "Lines": lines,
    }
