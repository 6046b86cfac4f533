"""Staging: turn a canonical record into durable jobs, one per effect in Xero, with deterministic keys.

Staging the same record version twice finds the same jobs (the idempotency key is derived from tenant, source
record, version and operation), so processing an event twice stages nothing new.
"""

import hashlib
from dataclasses import dataclass

from django.utils import timezone

from connections.canonical import ENTITY_TYPES, Contact, Order, Payment, Product, Refund, fingerprint, to_json
from connections.models import Connection
from core.errors import ApplicationError
from mappings.services import source_values_observe_many
from sync.models import CrossReference, SyncJob

Op = SyncJob.Operation
State = SyncJob.State
OPEN_STATES = (State.PENDING, State.RUNNING, State.NEEDS_ATTENTION)


@dataclass(frozen=True)
class Effect:
    operation: str
    entity: str
    source_id: str
    record: object
    depends_on: tuple[str, str] | None = None
    # A contact seen only inside an order is created when missing, never used to overwrite the real customer.
    create_only: bool = False


def idempotency_key_for(*, tenant_id: int, source_connection_id: int, operation: str, source_id: str, version: str):
    raw = f"{tenant_id}:{source_connection_id}:{operation}:{source_id}:{version}"
    return hashlib.sha256(raw.encode()).hexdigest()


def xero_connection_of(*, tenant_id: int) -> Connection:
    """The tenant's active Xero connection, where every job goes."""
    connection = (
        Connection.objects.filter(tenant_id=tenant_id, provider="xero", status=Connection.Status.ACTIVE)
        .order_by("id")
        .first()
    )
    if connection is None:
        raise ApplicationError("This tenant has no active Xero connection.", code="no_xero_connection")
    return connection


def effects_of(entity: str, record) -> list[Effect]:
    """What one canonical record means in Xero, dependencies first."""
    if entity in ("contact", "customer") and isinstance(record, Contact):
        return [Effect(Op.CONTACT_UPSERT, "contact", record.source_id, record)]
    if entity == "order" and isinstance(record, Order):
        effects = []
        contact_dependency = None
        if record.contact is not None:
            effects.append(
                Effect(Op.CONTACT_UPSERT, "contact", record.contact.source_id, record.contact, create_only=True)
            )
            contact_dependency = ("contact", record.contact.source_id)
        if record.is_cancelled:
            effects.append(Effect(Op.INVOICE_VOID, "invoice", record.source_id, record, ("invoice", record.source_id)))
        else:
            effects.append(Effect(Op.INVOICE_UPSERT, "invoice", record.source_id, record, contact_dependency))
        return effects
    if entity == "payment" and isinstance(record, Payment):
        return [Effect(Op.PAYMENT_CREATE, "payment", record.source_id, record, ("invoice", record.order_source_id))]
    if entity == "refund" and isinstance(record, Refund):
        return [
            Effect(Op.CREDIT_NOTE_CREATE, "credit_note", record.source_id, record, ("invoice", record.order_source_id))
        ]
    if entity == "product" and isinstance(record, Product):
        return [Effect(Op.ITEM_UPSERT, "item", record.source_id, record)]
    # Stock levels and the like flow from Xero to sources, not the other way: nothing to stage.
    return []


def canonical_entity_of(record) -> str:
    return next(name for name, kind in ENTITY_TYPES.items() if isinstance(record, kind))


PRIORITIES = {Op.PAYMENT_CREATE: SyncJob.PRIORITY_PAYMENT, Op.CREDIT_NOTE_CREATE: SyncJob.PRIORITY_PAYMENT}


def jobs_stage(*, source_connection: Connection, entity: str, record, backfill=None) -> list[SyncJob]:
    """Stage the jobs for one canonical record; returns the jobs created now (none when already staged)."""
    return jobs_stage_many(source_connection=source_connection, items=[(entity, record)], backfill=backfill)


def jobs_stage_many(*, source_connection: Connection, items, backfill=None) -> list[SyncJob]:
    """Stage the jobs for many canonical records [(entity, record)] in a constant number of queries.

    `backfill` (a sync.models.Backfill) marks the jobs as that historical migration's: they run after every live
    job, payments and refunds included, and count towards its progress.

    Call inside the transaction that marks their inbound events processed. Unchanged records (same version as
    last synced) stage nothing; a newer version supersedes older jobs for the same record that have not run; a
    contact seen only inside an order is created when missing, never used to overwrite the real customer.
    """
    tenant_id = source_connection.tenant_id
    xero = xero_connection_of(tenant_id=tenant_id)
    now = timezone.now()
    planned: list[tuple[Effect, str]] = []
    # What the source uses (tax keys, payment methods, …) is recorded for mapping suggestions and health.
    source_values_observe_many(source_connection=source_connection, records=[record for _, record in items])
    for entity, record in items:
        for effect in effects_of(entity, record):
            if effect.operation == Op.INVOICE_VOID and not _invoice_in_xero(source_connection, effect.source_id):
                # Cancelled before its invoice reached Xero: nothing to void, and the unsent invoice must not go.
                _discard_unsent_invoice(source_connection, effect.source_id)
                continue
            planned.append((effect, fingerprint(effect.record)))
    if not planned:
        return []

    source_ids = {effect.source_id for effect, _ in planned}
    xrefs = {
        (x.entity, x.source_id): x.source_version
        for x in CrossReference.objects.filter(source_connection=source_connection, source_id__in=source_ids)
    }
    known = list(
        SyncJob.objects.filter(
            source_connection=source_connection, source_id__in=source_ids, state__in=(*OPEN_STATES, State.DONE)
        ).values_list("id", "entity", "source_id", "operation", "state", "idempotency_key")
    )
    any_job = {(e, s, o) for _, e, s, o, _, _ in known}
    unsent: dict[tuple, list] = {}
    for job_id, e, s, o, state, key in known:
        if state in (State.PENDING, State.NEEDS_ATTENTION):
            unsent.setdefault((e, s, o), []).append((job_id, key))
    keys = [
        idempotency_key_for(
            tenant_id=tenant_id,
            source_connection_id=source_connection.pk,
            operation=effect.operation,
            source_id=effect.source_id,
            version=version,
        )
        for effect, version in planned
    ]
    taken = set(SyncJob.objects.filter(idempotency_key__in=set(keys)).values_list("idempotency_key", flat=True))

    new_jobs, superseded = [], []
    for (effect, version), key in zip(planned, keys, strict=True):
        record_key = (effect.entity, effect.source_id, effect.operation)
        if effect.create_only:
            if (effect.entity, effect.source_id) in xrefs or record_key in any_job:
                continue
        elif xrefs.get((effect.entity, effect.source_id)) == version:
            continue
        if key in taken:
            continue
        taken.add(key)
        any_job.add(record_key)
        # A backfilled payment waits behind live work like the rest of the backfill.
        priority = SyncJob.PRIORITY_BACKFILL if backfill else PRIORITIES.get(effect.operation, SyncJob.PRIORITY_LIVE)
        new_jobs.append(
            SyncJob(
                tenant_id=tenant_id,
                idempotency_key=key,
                source_connection=source_connection,
                xero_connection=xero,
                operation=effect.operation,
                entity=effect.entity,
                source_id=effect.source_id,
                source_version=version,
                priority=priority,
                record={"entity": canonical_entity_of(effect.record), "data": to_json(effect.record)},
                depends_on_entity=effect.depends_on[0] if effect.depends_on else "",
                depends_on_source_id=effect.depends_on[1] if effect.depends_on else "",
                next_attempt_at=now,
                backfill=backfill,
            )
        )
        if not effect.create_only:
            # Older versions of the same record that have not been sent are replaced by this one.
            superseded += [job_id for job_id, old_key in unsent.get(record_key, ()) if old_key != key]
    # Two workers staging the same change race on the unique key; the loser's rows are simply not inserted.
    SyncJob.objects.bulk_create(new_jobs, ignore_conflicts=True)
    if superseded:
        SyncJob.objects.filter(pk__in=superseded, state__in=(State.PENDING, State.NEEDS_ATTENTION)).update(
            state=State.DISCARDED,
            discard_reason="Superseded by a newer version of the same record.",
            finished_at=now,
        )
    return new_jobs


def _invoice_in_xero(source_connection: Connection, order_id: str) -> bool:
    return CrossReference.objects.filter(
        source_connection=source_connection, entity="invoice", source_id=order_id
    ).exists()


def _discard_unsent_invoice(source_connection: Connection, order_id: str) -> None:
    SyncJob.objects.filter(
        source_connection=source_connection,
        entity="invoice",
        source_id=order_id,
        operation=Op.INVOICE_UPSERT,
        state__in=(State.PENDING, State.NEEDS_ATTENTION),
    ).update(
        state=State.DISCARDED,
        discard_reason="The order was cancelled before its invoice reached Xero.",
        finished_at=timezone.now(),
    )
