"""Stock from Xero to sources, where Xero's tracked items are the inventory master.

A source takes Xero's quantities when its system of record for the stock group is Xero (mappings SystemOfRecord).
Xero has no item webhooks (research/xero.md §9), so items are polled: `GET Items` (not paged) with
If-Modified-Since from the source's own watermark, minus an overlap. A tracked item's QuantityOnHand is meant for
the source SKU the item mapping names for that code, else the code itself.

Only changed quantities are written: the quantity last written is remembered (a cross-reference of entity "stock"
whose version is the quantity), and a SKU seen for the first time is read from the source first. A quantity to
write becomes a write-back (sync.services.write_backs): durable, sent by a worker, retried with the shared backoff
and dead-lettered like every other job; a newer quantity for the same SKU replaces one not sent yet.
"""

import logging
from datetime import UTC, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from connections.models import Connection
from connections.providers.xero.normalize import parse_xero_date, stock_from_xero
from connections.sources import source_adapter
from core.errors import NotFoundError, RetryableError
from mappings.models import ItemMapping, SystemOfRecord
from sync.models import CrossReference, SourceCursor, WriteBack
from sync.services.write_backs import AttemptResult, write_back_stage

logger = logging.getLogger(__name__)

CURSOR_ENTITY = "xero_stock"
OVERLAP = timedelta(minutes=5)
EVENT = "stock.set"


def stock_targets(*, tenant_id: int) -> list[Connection]:
    """The tenant's active source connections whose stock is mastered in Xero."""
    ids = SystemOfRecord.objects.filter(
        tenant_id=tenant_id, field_group=SystemOfRecord.FieldGroup.STOCK, owner=SystemOfRecord.Owner.XERO
    ).values_list("source_connection_id", flat=True)
    return list(
        Connection.objects.filter(pk__in=list(ids), status=Connection.Status.ACTIVE)
        .exclude(provider__in=("xero", "rest"))
        .order_by("id")
    )


def xero_stock_poll(*, xero_connection: Connection, transport=None) -> dict:
    """Owe every source that takes Xero's stock the quantities that changed there.

    Returns {source connection id: {"staged", "unchanged", "not_in_source", "items"}}. A source that cannot be read
    stops its own run (its watermark stays, so the next poll sees the same items) without stopping the others.
    """
    from connections.providers.xero.tokens import xero_client_for

    targets = stock_targets(tenant_id=xero_connection.tenant_id)
    if not targets:
        return {}
    summary = {}
    client = xero_client_for(xero_connection, transport=transport)
    answers: dict = {}  # one GET Items per distinct If-Modified-Since
    try:
        for target in targets:
            cursor, _ = SourceCursor.objects.get_or_create(
                connection=target, entity=CURSOR_ENTITY, defaults={"tenant_id": target.tenant_id}
            )
            since = cursor.watermark - OVERLAP if cursor.watermark else None
            if since not in answers:
                # An ISO 8601 date-time in UTC, as Xero's spec gives the header.
                headers = {"If-Modified-Since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")} if since else {}
                answers[since] = client.get("Items", headers=headers).json().get("Items") or []
            summary[target.pk] = _stage(target, answers[since], cursor, transport=transport)
    finally:
        client.close()
    return summary


def _stage(target: Connection, items: list[dict], cursor: SourceCursor, *, transport) -> dict:
    counts = {"staged": 0, "unchanged": 0, "not_in_source": 0, "items": len(items)}
    levels = [(item, level) for item in items if (level := stock_from_xero(item)) is not None and level.sku]
    skus = dict(
        ItemMapping.objects.filter(source_connection=target, item_code__in=[level.sku for _, level in levels])
        .order_by("id")
        .values_list("item_code", "sku")
    )
    written = {
        x.source_id: x
        for x in CrossReference.objects.filter(
            source_connection=target, entity="stock", source_id__in=[skus.get(lv.sku, lv.sku) for _, lv in levels]
        )
    }
    newest = None
    complete = True
    with source_adapter(target, transport=transport) as adapter:
        for item, level in levels:
            sku = skus.get(level.sku, level.sku)
            xref = written.get(sku)
            if xref is not None and _quantity(xref.source_version) == level.quantity:
                counts["unchanged"] += 1
            elif xref is None:
                # First sight of this SKU: is it sold here, and does it already have Xero's quantity?
                try:
                    current = adapter.stock_get(sku)
                except RetryableError as exc:
                    logger.info("stock of %s in connection %s unreadable: %s; next poll", sku, target.pk, exc.message)
                    complete = False
                    break
                if current is None:
                    counts["not_in_source"] += 1
                elif current == level.quantity:
                    stock_remember(target, sku=sku, item_id=str(item.get("ItemID") or ""), quantity=level.quantity)
                    counts["unchanged"] += 1
                else:
                    counts["staged"] += _owe(target, sku, item, level.quantity)
            else:
                counts["staged"] += _owe(target, sku, item, level.quantity)
            updated = parse_xero_date(item.get("UpdatedDateUTC"))
            if updated is not None:
                newest = updated if newest is None else max(newest, updated)
    changes = {"last_polled_at": timezone.now()}
    if complete and newest is not None:
        changes["watermark"] = Greatest(Coalesce(F("watermark"), newest), newest)
    SourceCursor.objects.filter(pk=cursor.pk).update(**changes)
    return counts


def _owe(target: Connection, sku: str, item: dict, quantity: Decimal) -> int:
    """Stage the write-back of one quantity; one not sent yet for an older quantity of the SKU is replaced."""
    text = format(quantity, "f")
    key = f"stock:{sku}:{text}"
    with transaction.atomic():
        WriteBack.objects.filter(
            connection=target, kind=WriteBack.Kind.STOCK_LEVEL, source_id=sku[:128], state=WriteBack.State.PENDING
        ).exclude(key=key[:128]).update(
            state=WriteBack.State.DISCARDED, cause="Replaced by a newer quantity from Xero.", finished_at=timezone.now()
        )
        _, created = write_back_stage(
            connection=target,
            kind=WriteBack.Kind.STOCK_LEVEL,
            event=EVENT,
            key=key,
            source_id=sku,
            data={"sku": sku, "quantity": text, "item_id": str(item.get("ItemID") or "")},
        )
    return int(created)


def stock_level_write(write_back: WriteBack, *, transport=None, context: dict) -> AttemptResult:
    """One attempt of a stock write-back: set the quantity in the source and remember it as written."""
    key = ("stock_adapter", write_back.connection_id)
    adapter = context.get(key)
    if adapter is None:
        adapter = context[key] = source_adapter(write_back.connection, transport=transport)
    sku, quantity = write_back.data["sku"], Decimal(write_back.data["quantity"])
    try:
        wrote = adapter.stock_set(sku, quantity)
    except RetryableError as exc:
        return AttemptResult(ok=False, error=exc.message, code=exc.code, retry_after=exc.retry_after)
    except NotFoundError as exc:
        return AttemptResult(ok=False, error=exc.message, code=exc.code, retryable=False)
    stock_remember(write_back.connection, sku=sku, item_id=write_back.data.get("item_id", ""), quantity=quantity)
    state = "set" if wrote else "already"
    return AttemptResult(ok=True, excerpt=f"{sku}: {state} {format(quantity, 'f')}")


def stock_remember(target: Connection, *, sku: str, item_id: str, quantity: Decimal) -> None:
    """The quantity the source now has for a SKU, as Xero gave it: the next poll writes it only if it changes."""
    values = {
        "xero_id": item_id,
        "source_version": format(quantity, "f"),
        "payload_hash": "",
        "synced_at": timezone.now(),
    }
    CrossReference.objects.update_or_create(
        source_connection=target,
        entity="stock",
        source_id=sku,
        defaults=values,
        create_defaults={**values, "tenant_id": target.tenant_id},
    )


def _quantity(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return None
