"""Stock from Xero to sources, where Xero's tracked items are the inventory master.

A source takes Xero's quantities when its system of record for the stock group is Xero (mappings SystemOfRecord).
Xero has no item webhooks (research/xero.md §9), so items are polled: `GET Items` (not paged) with
If-Modified-Since from the source's own watermark, minus an overlap. A tracked item's QuantityOnHand goes to the
source SKU (the item mapping's SKU for that code, else the code itself) through the adapter's `stock_set`; the
quantity last written is remembered (a cross-reference of entity "stock" whose version is the quantity), so an
item whose quantity did not change writes nothing. The watermark moves only when every write succeeded: what failed
is tried again on the next poll, and what went through is then found unchanged.
"""

import logging
from datetime import UTC, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from connections.models import Connection
from connections.providers.xero.normalize import parse_xero_date, stock_from_xero
from connections.sources import source_adapter
from core.errors import ApplicationError, NotFoundError, RetryableError
from mappings.models import ItemMapping, SystemOfRecord
from sync.models import AuditEntry, CrossReference, SourceCursor

logger = logging.getLogger(__name__)

CURSOR_ENTITY = "xero_stock"
OVERLAP = timedelta(minutes=5)
OPERATION = "stock.to_source"


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
    """Write changed quantities of Xero's tracked items to every source that takes them.

    Returns {source connection id: {"written", "unchanged", "not_in_source", "failed", "items"}}. A source that is
    unavailable stops its own run (its watermark stays) without stopping the others.
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
            summary[target.pk] = _write(target, answers[since], cursor, transport=transport)
    finally:
        client.close()
    return summary


def _write(target: Connection, items: list[dict], cursor: SourceCursor, *, transport) -> dict:
    counts = {"written": 0, "unchanged": 0, "not_in_source": 0, "failed": 0, "items": len(items)}
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
            updated = parse_xero_date(item.get("UpdatedDateUTC"))
            xref = written.get(sku)
            if xref is not None and _quantity(xref.source_version) == level.quantity:
                counts["unchanged"] += 1
            else:
                try:
                    wrote = adapter.stock_set(sku, level.quantity)
                except RetryableError as exc:
                    logger.info("stock of %s to connection %s: %s; next poll", sku, target.pk, exc.message)
                    counts["failed"] += 1
                    complete = False
                    break
                except NotFoundError:
                    counts["not_in_source"] += 1  # an item this source does not sell
                    continue
                except ApplicationError as exc:
                    # A SKU the source does not have, say: recorded for a person, not retried by itself.
                    counts["failed"] += 1
                    _audit(target, sku, item, AuditEntry.Outcome.NEEDS_ATTENTION, f"Not written: {exc.message}")
                    continue
                _remember(target, sku, item, level.quantity, xref, wrote=wrote)
                counts["written" if wrote else "unchanged"] += 1
            if updated is not None:
                newest = updated if newest is None else max(newest, updated)
    now = timezone.now()
    changes = {"last_polled_at": now}
    if complete and newest is not None:
        changes["watermark"] = Greatest(Coalesce(F("watermark"), newest), newest)
    SourceCursor.objects.filter(pk=cursor.pk).update(**changes)
    return counts


def _quantity(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return None


def _remember(target, sku: str, item: dict, quantity: Decimal, xref: CrossReference | None, *, wrote: bool) -> None:
    now = timezone.now()
    values = {"xero_id": str(item.get("ItemID") or ""), "source_version": format(quantity, "f"), "synced_at": now}
    if xref is None:
        CrossReference.objects.update_or_create(
            source_connection=target,
            entity="stock",
            source_id=sku,
            defaults={**values, "payload_hash": ""},
            create_defaults={**values, "payload_hash": "", "tenant_id": target.tenant_id},
        )
    else:
        CrossReference.objects.filter(pk=xref.pk).update(**values)
    if wrote:
        _audit(
            target, sku, item, AuditEntry.Outcome.UPDATED, f"Stock of {sku} set to {format(quantity, 'f')} from Xero."
        )


def _audit(target: Connection, sku: str, item: dict, outcome: str, detail: str) -> None:
    AuditEntry.objects.create(
        tenant_id=target.tenant_id,
        entity="stock",
        source_id=sku,
        xero_id=str(item.get("ItemID") or ""),
        operation=OPERATION,
        outcome=outcome,
        detail=detail[:500],
        request={"sku": sku, "quantity": str(item.get("QuantityOnHand")), "source_connection": target.pk},
    )
