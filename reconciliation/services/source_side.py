"""The sources' side of a run: what each source system reports for the period, read through its adapter.

The source side is what the source says now, not what our jobs remember: a record we never heard of, or one that
changed since it was synced, must show up. Records are read with the adapter's incremental read from the start of
the period (a record created in the period was updated in it or later), normalised with the same normaliser the
sync uses, and reduced at once to the compact records the comparison needs, with what their Xero documents should
say decided by the same posting and contact policies the sync follows.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from connections.models import Connection
from core.errors import SkippableRecordError
from mappings.policies import invoice_contact, order_invoice_decision
from mappings.results import local_date
from mappings.rules import MappingSet
from reconciliation.services.records import SourceContact, SourceInvoice, SourceItem, SourcePayment, SourceRefund

logger = logging.getLogger(__name__)
RATE_6DP = Decimal("0.000001")


@dataclass
class SourceSide:
    """One source connection's records for the period (payments: every one since the period began)."""

    connection: Connection
    contacts: dict[str, SourceContact] = field(default_factory=dict)
    invoices: list[SourceInvoice] = field(default_factory=list)
    payments: list[SourcePayment] = field(default_factory=list)
    refunds: list[SourceRefund] = field(default_factory=list)
    items: list[SourceItem] = field(default_factory=list)
    unreadable: int = 0  # records the normaliser refused (they are not in Xero either, by design)


def _expected_rate(order, *, xero_base: str, source_rate_policy: bool) -> Decimal | None:
    """The CurrencyRate the invoice was sent with (mappings.payloads._currency), None when Xero's own applies."""
    currency = order.currency or xero_base
    if currency == xero_base or not source_rate_policy:
        return None
    if order.base_currency and order.base_currency != xero_base:
        return None
    if order.currency_rate and order.currency_rate > 0:
        return order.currency_rate.quantize(RATE_6DP)
    return None


def source_read(
    *,
    adapter,
    source_connection: Connection,
    period_start: date,
    period_end: date,
    since: datetime,
    timezone_name: str,
    xero_base: str,
    include_items: bool,
) -> SourceSide:
    """Read one source's orders, payments and refunds (and products) for the period through its adapter."""
    side = SourceSide(connection=source_connection)
    posting = MappingSet.load(source_connection).posting
    source_rate_policy = posting.currency_rate == posting.CurrencyRate.SOURCE

    def in_period(moment) -> date | None:
        day = local_date(moment, timezone_name)
        return day if period_start <= day <= period_end else None

    for record in _normalised(adapter, side, "order", since):
        day = in_period(record.created_at)
        if day is None:
            continue
        invoiced, why = order_invoice_decision(source_connection=source_connection, order=record)
        contact = invoice_contact(source_connection=source_connection, order=record)
        if contact is not None and invoiced:
            side.contacts[contact.source_id] = SourceContact(
                source_connection.pk, contact.source_id, contact.name, contact.email
            )
        side.invoices.append(
            SourceInvoice(
                source_connection_id=source_connection.pk,
                source_id=record.source_id,
                number=record.number,
                contact_id=contact.source_id if contact else "",
                currency=record.currency or xero_base,
                rate=_expected_rate(record, xero_base=xero_base, source_rate_policy=source_rate_policy),
                total=record.grand_total,
                tax=record.tax_total,
                date=day,
                due_date=day + timedelta(days=posting.due_days),
                invoiced=invoiced,
                why_not="" if invoiced else why,
            )
        )
    if "payment" in adapter.entities:
        for record in _normalised(adapter, side, "payment", since):
            side.payments.append(
                SourcePayment(
                    source_connection_id=source_connection.pk,
                    source_id=record.source_id,
                    order_id=record.order_source_id,
                    amount=record.amount,
                    currency=record.currency,
                    date=local_date(record.paid_at, timezone_name),
                    reference=record.reference[:255],
                )
            )
    if "refund" in adapter.entities:
        for record in _normalised(adapter, side, "refund", since):
            day = in_period(record.refunded_at)
            if day is None:
                continue
            side.refunds.append(
                SourceRefund(
                    source_connection_id=source_connection.pk,
                    source_id=record.source_id,
                    order_id=record.order_source_id,
                    number=f"{posting.invoice_number_prefix}{record.number}"[:255],
                    total=record.total,
                    currency=record.currency or xero_base,
                    date=day,
                )
            )
    if include_items and "product" in adapter.entities:
        for record in _normalised(adapter, side, "product", None):
            side.items.append(SourceItem(source_connection.pk, record.source_id, record.sku, record.name))
    return side


def _normalised(adapter, side: SourceSide, entity: str, since):
    """The adapter's records of `entity` changed since `since`, normalised; unreadable ones are counted, not fatal."""
    for source_id, _, native in adapter.changed(entity, since=since):
        try:
            yield adapter.normalize(entity, native)
        except SkippableRecordError as exc:
            # The sync refuses the same record the same way, so it is not in Xero by design: counted, not flagged.
            side.unreadable += 1
            logger.info("reconciliation skipped %s %s: %s", entity, source_id, exc)
