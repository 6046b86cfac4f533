"""Writes for mappings: observing source values, saving and deleting mappings with an audit line each."""

from decimal import Decimal

from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from connections.canonical import Order, Payment, Product, Refund, to_json
from connections.models import Connection
from core import bulk
from mappings.models import SampleRecord, SourceValue
from mappings.rules import ZERO_TAX_KEY
from tenants.services import activity_record

Kind = SourceValue.Kind


def _observations(*, order=None, payment=None, refund=None, product=None):
    """(kind, value, label, percent, currency) tuples a record shows."""
    seen = []
    if order is not None:
        for line in order.lines:
            key = line.tax_key or ZERO_TAX_KEY
            seen.append((Kind.TAX_KEY, key.code, key.label, key.percent, ""))
            seen.append((Kind.LINE_KIND, str(line.kind), "", None, ""))
            if line.category:
                seen.append((Kind.CATEGORY, line.category, "", None, ""))
        for kind, value in (
            (Kind.STORE, order.store),
            (Kind.CHANNEL, order.channel),
            (Kind.CUSTOMER_GROUP, order.customer_group),
            (Kind.LOCATION, str(order.extra.get("location") or "")),
        ):
            if value:
                seen.append((kind, value, "", None, ""))
        if order.payment_method:
            seen.append((Kind.PAYMENT_METHOD, order.payment_method, "", None, order.currency))
    if payment is not None:
        seen.append((Kind.PAYMENT_METHOD, payment.method, "", None, payment.currency))
    if refund is not None:
        for line in refund.lines:
            if line.tax_key is not None:
                seen.append((Kind.TAX_KEY, line.tax_key.code, line.tax_key.label, line.tax_key.percent, ""))
    if product is not None and product.tax_key is not None:
        seen.append((Kind.TAX_KEY, product.tax_key.code, product.tax_key.label, product.tax_key.percent, ""))
    return seen


def source_values_observe(
    *,
    source_connection: Connection,
    order: Order | None = None,
    payment: Payment | None = None,
    refund: Refund | None = None,
    product: Product | None = None,
    at=None,
) -> int:
    """Record the tax keys, payment methods, stores, … a source record shows; returns how many values it named.

    The sync engine calls this (through source_values_observe_many) for every record it stages; health checks and
    suggestions read what was seen.
    """
    record = next((r for r in (order, payment, refund, product) if r is not None), None)
    if record is None:
        return 0
    return source_values_observe_many(source_connection=source_connection, records=[record], at=at)


def source_values_observe_many(*, source_connection: Connection, records, at=None) -> int:
    """Record what many source records show, in a few statements (one read, one bulk update, one bulk insert).

    Returns how many distinct values they named. The newest order is kept as a sample for previews.
    """
    at = at or timezone.now()
    counts: dict[tuple, int] = {}
    details: dict[tuple, tuple] = {}
    newest_order = None
    for record in records:
        kwargs = {_OBSERVED_AS[type(record)]: record} if type(record) in _OBSERVED_AS else {}
        for kind, value, label, percent, currency in dict.fromkeys(_observations(**kwargs)):
            key = (kind, str(value)[:200], currency)
            counts[key] = counts.get(key, 0) + 1
            details.setdefault(key, (label, percent))
        if isinstance(record, Order):
            newest_order = record
    if counts:
        own = {"tenant_id": source_connection.tenant_id, "source_connection": source_connection}
        existing = {
            (v.kind, v.value, v.currency): v
            # One array per column (core.lookups' `any`) and no ordering: IN lists of a parameter each, sorted by
            # the model's default ordering, read for every chunk of events processed.
            for v in SourceValue.objects.filter(
                **own, kind__any={k for k, _, _ in counts}, value__any={v for _, v, _ in counts}
            ).order_by()
        }
        changed, new = [], []
        for key, n in counts.items():
            row = existing.get(key)
            if row is not None:
                row.last_seen_at, row.seen_count = at, row.seen_count + n
                changed.append(row)
                continue
            label, percent = details[key]
            percent = Decimal(percent).quantize(Decimal("0.0001")) if percent is not None else None
            kind, value, currency = key
            new.append(
                SourceValue(
                    **own,
                    kind=kind,
                    value=value,
                    currency=currency,
                    label=label[:200],
                    percent=percent,
                    first_seen_at=at,
                    last_seen_at=at,
                    seen_count=n,
                )
            )
        bulk.rows_update(SourceValue, changed, ("last_seen_at", "seen_count"))
        # Another worker may have recorded the same new value a moment ago: its row stands.
        SourceValue.objects.bulk_create(new, ignore_conflicts=True)
    if newest_order is not None:
        sample_keep(
            source_connection=source_connection, entity="order", record=newest_order, label=newest_order.number, at=at
        )
    return len(counts)


_OBSERVED_AS = {Order: "order", Payment: "payment", Refund: "refund", Product: "product"}


def sample_keep(*, source_connection: Connection, entity: str, record, label: str = "", at=None) -> None:
    """Keep a recent canonical record for previews; only the newest SampleRecord.KEEP per source and entity stay.

    Two statements: the record is stored (or, already kept, refreshed) by one INSERT … ON CONFLICT DO UPDATE, and
    the ones past the newest KEEP are deleted by one DELETE. Processing keeps a sample per chunk of events, and
    update_or_create's locking read, write and savepoint, and a read of the stale ids, cost twice as many."""
    at = at or timezone.now()
    own = {"tenant_id": source_connection.tenant_id, "source_connection": source_connection, "entity": entity}
    sample = SampleRecord(**own, source_id=str(record.source_id), record=to_json(record), label=label[:200], seen_at=at)
    SampleRecord.objects.bulk_create(
        [sample],
        update_conflicts=True,
        unique_fields=["tenant", "source_connection", "entity", "source_id"],
        update_fields=["record", "label", "seen_at", "updated_at"],
    )
    stale = SampleRecord.objects.filter(**own).order_by("-seen_at", "-id").values("id")[SampleRecord.KEEP :]
    SampleRecord.objects.filter(**own, id__in=stale).delete()


def _snapshot(instance) -> dict:
    data = model_to_dict(instance)
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in data.items()}


def mapping_save(*, instance, actor: str, before: dict | None = None):
    """Save a mapping (already validated) and record who changed what, before and after."""
    with transaction.atomic():
        created = instance.pk is None
        instance.save()
        activity_record(
            tenant=instance.tenant,
            actor=actor,
            action=f"mapping.{'created' if created else 'changed'}",
            subject=f"{instance._meta.verbose_name} {instance}"[:200],
            before=None if created else before,
            after=_snapshot(instance),
        )
    return instance


def mapping_delete(*, instance, actor: str) -> None:
    """Delete a mapping and record what it was."""
    with transaction.atomic():
        before = _snapshot(instance)
        subject = f"{instance._meta.verbose_name} {instance}"[:200]
        tenant = instance.tenant
        instance.delete()
        activity_record(tenant=tenant, actor=actor, action="mapping.deleted", subject=subject, before=before)


def mapping_snapshot(instance) -> dict:
    """The values of a mapping as the audit trail stores them."""
    return _snapshot(instance)
