"""Xero's side of a run: the period's invoices, credit notes and payments, and the organisation's contacts and items,
read 1,000 per page and kept as compact records.

Facts (research/xero.md): GET Invoices, CreditNotes, Payments and Contacts page with `page` and `pageSize` up to
1,000; `where` filters on Type and Date; `If-Modified-Since` leaves out records not changed since a moment. Paged
invoice and credit note reads include line items, which is how our rounding line is seen. Every request goes
through the connection's client, so the rate limiter budgets it and `client.calls` counts it.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from connections.paging import xero_pages
from connections.providers.xero.accounting import parse
from core.money import from_json_number
from reconciliation.services.records import XeroContact, XeroDocument, XeroItem, XeroPayment

PAGE_SIZE = 1000
ROUNDING_DESCRIPTION = "Rounding adjustment"  # mappings.lines.rounding_line
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def xero_time(value) -> datetime | None:
    """Xero's "/Date(1700000000000+0000)/" (or an ISO 8601 string) as an aware UTC datetime."""
    if not value:
        return None
    match = _MS_DATE.match(str(value))
    if match:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def xero_date(value) -> date | None:
    moment = xero_time(value)
    return moment.date() if moment else None


def _date_clause(period_start: date, period_end: date) -> str:
    return (
        f"Date>=DateTime({period_start.year},{period_start.month},{period_start.day})"
        f" AND Date<=DateTime({period_end.year},{period_end.month},{period_end.day})"
    )


def _money(value) -> Decimal:
    return from_json_number(value).quantize(Decimal("0.01"))


def _document(record: dict, *, rounding_accounts: frozenset[str]) -> XeroDocument:
    rounding = None
    if rounding_accounts:
        for line in record.get("LineItems") or ():
            if line.get("AccountCode") in rounding_accounts and line.get("Description") == ROUNDING_DESCRIPTION:
                rounding = (rounding or Decimal("0.00")) + _money(line.get("LineAmount"))
    contact = record.get("Contact") or {}
    return XeroDocument(
        xero_id=str(record.get("InvoiceID") or record.get("CreditNoteID") or ""),
        number=record.get("InvoiceNumber") or record.get("CreditNoteNumber") or "",
        reference=record.get("Reference") or "",
        contact_id=str(contact.get("ContactID") or ""),
        contact_name=contact.get("Name") or "",
        status=record.get("Status") or "",
        total=_money(record.get("Total")),
        tax=_money(record.get("TotalTax")),
        currency=record.get("CurrencyCode") or "",
        rate=from_json_number(record.get("CurrencyRate") or 1),
        date=xero_date(record.get("Date")),
        due_date=xero_date(record.get("DueDate")),
        updated_at=xero_time(record.get("UpdatedDateUTC")),
        amount_paid=_money(record.get("AmountPaid")),
        remaining_credit=_money(record.get("RemainingCredit")),
        rounding=rounding,
    )


def invoices_read(
    client, *, period_start: date, period_end: date, modified_since: datetime | None, rounding_accounts: frozenset[str]
) -> Iterator[XeroDocument]:
    """Sales invoices dated in the period (every status: voided and deleted ones are findings too)."""
    where = f'Type=="ACCREC" AND {_date_clause(period_start, period_end)}'
    for record in xero_pages(
        client, "Invoices", collection="Invoices", params={"where": where}, modified_since=modified_since, decode=parse
    ):
        yield _document(record, rounding_accounts=rounding_accounts)


def credit_notes_read(
    client, *, period_start: date, period_end: date, modified_since: datetime | None, rounding_accounts: frozenset[str]
) -> Iterator[XeroDocument]:
    """Sales credit notes dated in the period."""
    where = f'Type=="ACCRECCREDIT" AND {_date_clause(period_start, period_end)}'
    for record in xero_pages(
        client,
        "CreditNotes",
        collection="CreditNotes",
        params={"where": where},
        modified_since=modified_since,
        decode=parse,
    ):
        yield _document(record, rounding_accounts=rounding_accounts)


def payments_read(
    client, *, period_start: date, period_end: date, modified_since: datetime | None
) -> Iterator[XeroPayment]:
    """Payments received on sales invoices, dated in the period."""
    where = f'PaymentType=="ACCRECPAYMENT" AND {_date_clause(period_start, period_end)}'
    for record in xero_pages(
        client, "Payments", collection="Payments", params={"where": where}, modified_since=modified_since, decode=parse
    ):
        invoice = record.get("Invoice") or {}
        yield XeroPayment(
            xero_id=str(record.get("PaymentID") or ""),
            invoice_id=str(invoice.get("InvoiceID") or ""),
            invoice_number=invoice.get("InvoiceNumber") or "",
            amount=_money(record.get("Amount")),
            date=xero_date(record.get("Date")),
            reference=record.get("Reference") or "",
            status=record.get("Status") or "",
        )


def contacts_read(client) -> Iterator[XeroContact]:
    """Every contact, archived ones included (a customer's contact may predate any period)."""
    params = {"summaryOnly": "true", "includeArchived": "true"}
    for record in xero_pages(client, "Contacts", collection="Contacts", params=params, decode=parse):
        yield XeroContact(
            xero_id=str(record.get("ContactID") or ""),
            number=record.get("ContactNumber") or "",
            name=record.get("Name") or "",
            email=record.get("EmailAddress") or "",
            status=record.get("ContactStatus") or "",
            updated_at=xero_time(record.get("UpdatedDateUTC")),
        )


def items_read(client) -> Iterator[XeroItem]:
    """Every item (Xero's Items endpoint is not paged)."""
    body = parse(client.get("Items"))
    for record in body.get("Items") or ():
        yield XeroItem(
            xero_id=str(record.get("ItemID") or ""), code=record.get("Code") or "", name=record.get("Name") or ""
        )
