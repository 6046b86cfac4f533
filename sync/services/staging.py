"""Staging: turn a canonical record into durable jobs, one per effect in Xero, with deterministic keys.

Staging the same record version twice finds the same jobs (the idempotency key is derived from tenant, source
record, version and operation), so processing an event twice stages nothing new.
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connections.canonical import (
    ENTITY_TYPES,
    ZERO,
    Contact,
    Note,
    Order,
    Payment,
    Product,
    Refund,
    fingerprint_json,
    to_json,
)
from connections.models import Connection
from core import bulk, jsonfast
from core.errors import ApplicationError
from core.money import from_json_number
from mappings.cache import mapping_cache
from mappings.models import PostingPolicy
from mappings.policies import (
    contact_notes_enabled,
    credit_notes_applied,
    order_cancel_action,
    order_edit_action,
    order_invoice_decision,
)
from mappings.services import source_values_observe_many
from sync.models import AuditEntry, CrossReference, SyncJob

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
    """What one canonical record means in Xero, dependencies first, before the tenant's posting policy is asked."""
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
    if isinstance(record, Note):
        # One note per ticket, added to the contact's history once the contact is in Xero.
        contact = ("contact", record.contact_source_id)
        return [Effect(Op.CONTACT_NOTE, "contact_note", record.source_id, record, contact, create_only=True)]
    # Stock levels and the like flow from Xero to sources, not the other way: nothing to stage.
    return []


def refund_application(refund: Refund, *, paid_in_full: bool) -> Effect:
    """What a refund's credit note does once it is in Xero (research/xero.md §7–8, peers.md §6).

    The order was paid in full: the money went back, so a refund payment is made against the credit note (it goes
    to Xero with the other payments, many per request). Otherwise the credit note is allocated to the order's
    invoice up to what is still due there, and any remainder stays as credit on the customer's account.
    """
    depends_on = ("credit_note", refund.source_id)
    if paid_in_full:
        return Effect(Op.PAYMENT_CREATE, "payment", f"refund:{refund.source_id}", refund, depends_on)
    return Effect(Op.CREDIT_NOTE_ALLOCATE, "allocation", refund.source_id, refund, depends_on)


def version_of(effect: Effect, data: dict | None = None) -> str:
    """The version a job is staged for. An invoice's version is its order's content: a change of status alone
    (processing → complete) changes nothing on the invoice, so it is not an edit.

    `data` is the effect's record as to_json gives it, when the caller has it (staging does, for the job): the
    version is a hash of that form, and making it again was a tenth of processing's CPU."""
    if data is None:
        data = to_json(effect.record)
    if effect.operation == Op.INVOICE_UPSERT:
        # What fingerprint(replace(order, status="", updated_at=order.created_at)) hashes, without a second pass.
        data = {**data, "status": "", "updated_at": data["created_at"]}
    return fingerprint_json(data)


def _record_data(record) -> dict[int, dict]:
    """The JSON form (to_json) of a record and of the contact inside it (an order's), by the object's id: the
    order's form holds its contact's, so it is made once for both."""
    data = to_json(record)
    forms = {id(record): data}
    contact = getattr(record, "contact", None)
    if isinstance(record, Order) and contact is not None:
        forms[id(contact)] = data["contact"]
    return forms


def canonical_entity_of(record) -> str:
    return next(name for name, kind in ENTITY_TYPES.items() if isinstance(record, kind))


PRIORITIES = {
    Op.PAYMENT_CREATE: SyncJob.PRIORITY_PAYMENT,
    Op.CREDIT_NOTE_CREATE: SyncJob.PRIORITY_PAYMENT,
    Op.CREDIT_NOTE_ALLOCATE: SyncJob.PRIORITY_PAYMENT,
}


def jobs_stage(*, source_connection: Connection, entity: str, record, backfill=None) -> list[SyncJob]:
    """Stage the jobs for one canonical record; returns the jobs created now (none when already staged)."""
    return jobs_stage_many(source_connection=source_connection, items=[(entity, record)], backfill=backfill)


def jobs_stage_many(*, source_connection: Connection, items, backfill=None) -> list[SyncJob]:
    """Stage the jobs for many canonical records [(entity, record)] in a constant number of queries; returns the
    jobs created now (see _stage_rows)."""
    staged = _stage_rows(source_connection, items, backfill)
    return staged.jobs() if staged is not None else []


def jobs_stage_count(*, source_connection: Connection, items, backfill=None) -> int:
    """As jobs_stage_many, returning how many jobs were created rather than the jobs: processing and backfills
    stage thousands and read none back, and making a model instance of each was a twentieth of processing's CPU."""
    staged = _stage_rows(source_connection, items, backfill)
    return staged.count() if staged is not None else 0


def _stage_rows(source_connection: Connection, items, backfill) -> "_StagedRows | None":
    """Stage the jobs for many canonical records [(entity, record)] in a constant number of queries.

    `backfill` (a sync.models.Backfill) marks the jobs as that historical migration's: they run after every live
    job, payments and refunds included, and count towards its progress.

    Call inside the transaction that marks their inbound events processed. Unchanged records (same version as
    last synced) stage nothing; a newer version supersedes older jobs for the same record that have not run; a
    contact seen only inside an order is created when missing, never used to overwrite the real customer. The
    tenant's posting policy decides which orders are invoiced and what edits and cancellations of invoiced orders
    do; what it declines is audited as skipped, with its reason.
    """
    tenant_id = source_connection.tenant_id
    xero = xero_connection_of(tenant_id=tenant_id)
    now = timezone.now()
    # What the source uses (tax keys, payment methods, …) is recorded for mapping suggestions and health.
    source_values_observe_many(source_connection=source_connection, records=[record for _, record in items])
    with mapping_cache():
        planned, skipped, cancelled_now = _plan(source_connection, items, backfill=backfill)
    if skipped:
        AuditEntry.objects.bulk_create(
            AuditEntry(
                tenant_id=tenant_id,
                entity=entity,
                source_id=source_id,
                operation=operation,
                outcome=AuditEntry.Outcome.SKIPPED,
                detail=reason[:500],
            )
            for entity, source_id, operation, reason in skipped
        )
    if not planned:
        return None

    source_ids = {effect.source_id for effect, _, _ in planned}
    # Named, the entities are what the record indexes lead with (after the tenant); only these are looked up below.
    entities = {effect.entity for effect, _, _ in planned}
    xrefs = _synced_versions(source_connection, source_ids, entities)
    # Every job of these records, whatever its state: a job's idempotency key names its source connection, source
    # id and operation (and so its entity), so the keys already taken are among these, with no query of their own.
    known = list(
        SyncJob.objects.filter(
            source_connection=source_connection, entity__any=entities, source_id__any=source_ids
        ).values_list("id", "entity", "source_id", "operation", "state", "idempotency_key")
    )
    live = (*OPEN_STATES, State.DONE)
    any_job = {(e, s, o) for _, e, s, o, state, _ in known if state in live}
    unsent: dict[tuple, list] = {}
    for job_id, e, s, o, state, key in known:
        if state in (State.PENDING, State.NEEDS_ATTENTION):
            unsent.setdefault((e, s, o), []).append((job_id, key))
    taken = {key for *_, key in known}
    keys = [
        idempotency_key_for(
            tenant_id=tenant_id,
            source_connection_id=source_connection.pk,
            operation=effect.operation,
            source_id=effect.source_id,
            version=version,
        )
        for effect, version, _ in planned
    ]

    staged = _StagedRows(
        tenant_id=tenant_id, source_connection=source_connection, xero_connection=xero, backfill=backfill, now=now
    )
    superseded = []
    for (effect, version, data), key in zip(planned, keys, strict=True):
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
        unsent_void = effect.operation == Op.INVOICE_VOID and effect.source_id in cancelled_now
        staged.add(
            idempotency_key=key,
            operation=effect.operation,
            entity=effect.entity,
            source_id=effect.source_id,
            source_version=version,
            priority=priority,
            record={"entity": canonical_entity_of(effect.record), "data": data},
            depends_on_entity=effect.depends_on[0] if effect.depends_on else "",
            depends_on_source_id=effect.depends_on[1] if effect.depends_on else "",
            **(
                {"state": State.DISCARDED, "discard_reason": CANCELLED_UNSENT, "finished_at": now}
                if unsent_void
                else {}
            ),
        )
        if not effect.create_only:
            # Older versions of the same record that have not been sent are replaced by this one.
            superseded += [job_id for job_id, old_key in unsent.get(record_key, ()) if old_key != key]
    staged.insert()
    if superseded:
        SyncJob.objects.filter(pk__any=superseded, state__in=(State.PENDING, State.NEEDS_ATTENTION)).update(
            state=State.DISCARDED,
            discard_reason="Superseded by a newer version of the same record.",
            finished_at=now,
        )
    return staged


class _StagedRows:
    """The new jobs of one staging call, as rows of their column values (SyncJob's concrete fields, in order), stored
    by one COPY; model instances are made of them only for a caller that wants the jobs back.

    Each job was made as a model instance (Model.__init__, its connections cached on it) and written through every
    field's pre_save, for processing, which reads none of them back. The rows hold the values those gave (created_at
    and updated_at are the staging call's time)."""

    FIELDS = SyncJob._meta.concrete_fields
    NAMES = [field.attname for field in FIELDS]
    RECORD = NAMES.index("record")
    STATE = NAMES.index("state")

    def __init__(self, *, tenant_id: int, source_connection: Connection, xero_connection: Connection, backfill, now):
        self.rows: list[list] = []
        self.shared = {field.attname: field.get_default() for field in self.FIELDS}
        self.shared.update(
            id=None,
            created_at=now,
            updated_at=now,
            tenant_id=tenant_id,
            source_connection_id=source_connection.pk,
            xero_connection_id=xero_connection.pk,
            backfill_id=backfill.pk if backfill is not None else None,
            next_attempt_at=now,
        )
        # Cached on each instance made, as the keyword arguments of a job made from them would be.
        self.related = [
            (SyncJob._meta.get_field(name), value)
            for name, value in (
                ("source_connection", source_connection),
                ("xero_connection", xero_connection),
                ("backfill", backfill),
            )
        ]

    def add(self, **values) -> None:
        """Add a job from its own fields (the rest are the call's or the fields' defaults)."""
        if values.keys() - self.shared.keys():
            raise TypeError(f"SyncJob has no fields {sorted(values.keys() - self.shared.keys())}")
        row = self.shared | values
        self.rows.append([row[name] for name in self.NAMES])

    def insert(self) -> None:
        """Insert the rows by COPY (the primary key is the database's), each record as the JSON text orjson writes
        (core.jsonfast): the stored jsonb is the same, and the driver's own encoding was a tenth of staging's CPU.

        Two workers staging the same change race on the unique idempotency key. COPY cannot skip a conflicting row,
        so when one is found the COPY is rolled back to its savepoint and the rows go in again with INSERT … ON
        CONFLICT DO NOTHING: the loser's rows are simply not inserted. The rows keep their records as documents.
        """
        if not self.rows:
            return
        at = self.RECORD
        copied = [[*row[1:at], bulk.JsonText(jsonfast.dumps_sorted(row[at])), *row[at + 1 :]] for row in self.rows]
        try:
            with transaction.atomic():
                bulk.values_insert(SyncJob, self.NAMES[1:], copied)
            return
        except IntegrityError:
            pass
        SyncJob.objects.bulk_create(self._instances(self.rows), ignore_conflicts=True)

    def jobs(self) -> list[SyncJob]:
        """The jobs staged, as model instances (ids unset: COPY returns none). The discarded void of an order
        cancelled before invoicing is a record, not work: it is not reported as staged."""
        jobs = self._instances(row for row in self.rows if row[self.STATE] != State.DISCARDED)
        for job in jobs:
            job._state.adding = False
            job._state.db = SyncJob.objects.db
        return jobs

    def count(self) -> int:
        """How many jobs were staged (as jobs() counts them)."""
        return sum(1 for row in self.rows if row[self.STATE] != State.DISCARDED)

    def _instances(self, rows) -> list[SyncJob]:
        jobs = []
        for row in rows:
            job = SyncJob(*row)
            for field, value in self.related:
                field.set_cached_value(job, value)
            jobs.append(job)
        return jobs


def _synced_versions(source_connection: Connection, source_ids, entities) -> dict[tuple[str, str], str]:
    """The versions last synced of these records, by (entity, source id)."""
    rows = CrossReference.objects.filter(
        source_connection=source_connection, entity__any=entities, source_id__any=source_ids
    )
    return {
        (entity, source_id): version
        for entity, source_id, version in rows.values_list("entity", "source_id", "source_version")
    }


def _plan(source_connection: Connection, items, *, backfill=None):
    """(effect, version, record as JSON) to stage, (entity, source id, operation, reason) the policies declined,
    and the orders of `items` cancelled before their invoice reached Xero."""
    orders = {record.source_id for _, record in items if isinstance(record, Order)}
    refunds = [record for _, record in items if isinstance(record, Refund)]
    invoiced = _synced_versions(source_connection, orders, ("invoice",))
    paid = _paid_in_full(source_connection, refunds, items) if refunds else set()
    on_cancel = order_cancel_action(source_connection=source_connection)
    on_edit = order_edit_action(source_connection=source_connection)
    planned, skipped, cancelled_now = [], [], set()
    notes = None
    for entity, record in items:
        if isinstance(record, Note):
            notes = contact_notes_enabled(source_connection=source_connection) if notes is None else notes
            if not notes:
                continue  # ticket notes are off for this source
        effects = effects_of(entity, record)
        forms = _record_data(record) if effects else {}
        if isinstance(record, Order):
            effects, reason = _order_effects(
                source_connection, record, effects, invoiced, on_cancel, on_edit, forms.get(id(record))
            )
            if record.is_cancelled and ("invoice", record.source_id) not in invoiced:
                cancelled_now.add(record.source_id)
                if backfill is not None:
                    # A backfill counts such orders as nothing to do and keeps no record of them.
                    effects = [e for e in effects if e.operation != Op.INVOICE_VOID]
            if reason:
                operation = Op.INVOICE_VOID if record.is_cancelled else Op.INVOICE_UPSERT
                skipped.append(("invoice", record.source_id, operation, reason))
        elif (
            isinstance(record, Refund)
            and record.total > 0
            and credit_notes_applied(source_connection=source_connection)
        ):
            # Draft credit notes (posting policy) can be neither allocated nor refunded: a person approves them.
            effects.append(refund_application(record, paid_in_full=record.order_source_id in paid))
        for effect in effects:
            data = forms.get(id(effect.record))
            if data is None:
                data = to_json(effect.record)
            planned.append((effect, version_of(effect, data), data))
    if cancelled_now:
        _discard_unsent_invoices(source_connection, cancelled_now)
    # A payment or refund of an order cancelled before its invoice was sent has nothing to apply to in Xero.
    paying = {e.record.order_source_id for e, _, _ in planned if isinstance(e.record, (Payment, Refund))}
    cancelled = cancelled_now | _cancelled_unsent(source_connection, paying - cancelled_now)
    planned = [
        planning
        for planning in planned
        if not (isinstance(planning[0].record, (Payment, Refund)) and planning[0].record.order_source_id in cancelled)
    ]
    return planned, skipped, cancelled_now


def _order_effects(source_connection, order: Order, effects, invoiced, on_cancel, on_edit, data=None):
    """The effects of an order the posting policy allows, and why the rest are not staged ("" when all are).
    `data`: the order as to_json gives it, when the caller has it."""
    in_xero = ("invoice", order.source_id) in invoiced
    if order.is_cancelled:
        if not in_xero:
            # Cancelled before its invoice reached Xero: nothing to void, and the unsent invoice must not go (_plan
            # discards it). The void is staged discarded: the record that its payments and refunds have nothing
            # to meet.
            return effects, ""
        if on_cancel == PostingPolicy.OnCancel.IGNORE:
            reason = f"Order {order.number} was cancelled; the posting policy leaves its Xero invoice alone."
            return [], reason
        return effects, ""
    if in_xero:
        invoice = next(e for e in effects if e.operation == Op.INVOICE_UPSERT)
        edited = invoiced[("invoice", order.source_id)] != version_of(invoice, data)
        if edited and on_edit == PostingPolicy.OnEdit.IGNORE:
            return [], f"Order {order.number} was edited; the posting policy leaves its Xero invoice alone."
        return effects, ""
    allowed, why = order_invoice_decision(source_connection=source_connection, order=order)
    if not allowed:
        return [], f"Order {order.number} is not invoiced: {why}."
    return effects, ""


def _paid_in_full(source_connection: Connection, refunds: list[Refund], items) -> set[str]:
    """The orders of `refunds` whose payments (as the source reported them) cover the order's total."""
    order_ids = {refund.order_source_id for refund in refunds}
    totals: dict[str, Decimal] = {}
    for source_id, total in (
        # The entity (always "invoice" for this operation) is what the record index (sync_job_record) leads with.
        SyncJob.objects.filter(
            source_connection=source_connection, entity="invoice", operation=Op.INVOICE_UPSERT, source_id__in=order_ids
        )
        .order_by("id")
        .values_list("source_id", "record__data__grand_total")
    ):
        totals[source_id] = from_json_number(total)
    payments: dict[str, tuple[str, Decimal]] = {}
    for source_id, order_id, amount in (
        SyncJob.objects.filter(
            source_connection=source_connection,
            operation=Op.PAYMENT_CREATE,
            depends_on_entity="invoice",
            depends_on_source_id__in=order_ids,
        )
        .exclude(state=State.DISCARDED)
        .values_list("source_id", "depends_on_source_id", "record__data__amount")
    ):
        payments[source_id] = (order_id, from_json_number(amount))
    for _, record in items:
        if isinstance(record, Order) and record.source_id in order_ids:
            totals[record.source_id] = record.grand_total
        elif isinstance(record, Payment) and record.order_source_id in order_ids:
            payments[record.source_id] = (record.order_source_id, record.amount)
    paid: dict[str, Decimal] = {}
    for order_id, amount in payments.values():
        paid[order_id] = paid.get(order_id, ZERO) + amount
    return {order_id for order_id, total in totals.items() if total > 0 and paid.get(order_id, ZERO) >= total}


CANCELLED_UNSENT = "The order was cancelled before its invoice reached Xero."
# What follows an invoice: with the invoice never sent, there is nothing in Xero to pay, credit or allocate to.
INVOICE_DEPENDANTS = (Op.PAYMENT_CREATE, Op.CREDIT_NOTE_CREATE, Op.CREDIT_NOTE_ALLOCATE)


def _discard_unsent_invoices(source_connection: Connection, order_ids: set[str]) -> None:
    """The unsent invoices of cancelled orders, and the payments and refunds of those orders waiting for them, are
    not sent (one statement for a whole chunk of events).

    The payments and refunds are found by what they wait for, through the dependency index: a payment or credit
    note waits for its order's invoice, a refund's allocation or payment for the refund's credit note. Found by the
    order named in their records, every statement read all of the tenant's jobs (a few ms per chunk at 13,000)."""
    now = timezone.now()
    refunds = set(
        SyncJob.objects.filter(
            source_connection=source_connection,
            entity="credit_note",
            operation=Op.CREDIT_NOTE_CREATE,
            depends_on_entity="invoice",
            depends_on_source_id__in=order_ids,
        ).values_list("source_id", flat=True)
    )
    waiting = Q(depends_on_entity="invoice", depends_on_source_id__in=order_ids)
    if refunds:
        waiting |= Q(depends_on_entity="credit_note", depends_on_source_id__in=refunds)
    SyncJob.objects.filter(
        Q(entity="invoice", source_id__in=order_ids, operation=Op.INVOICE_UPSERT)
        | (waiting & Q(operation__in=INVOICE_DEPENDANTS)),
        source_connection=source_connection,
        state__in=(State.PENDING, State.NEEDS_ATTENTION),
    ).update(state=State.DISCARDED, discard_reason=CANCELLED_UNSENT, finished_at=now)


def _cancelled_unsent(source_connection: Connection, order_ids: set[str]) -> set[str]:
    """Orders among `order_ids` cancelled before their invoice reached Xero (and not invoiced since)."""
    if not order_ids:
        return set()
    cancelled = set(
        SyncJob.objects.filter(
            source_connection=source_connection,
            entity="invoice",
            source_id__in=order_ids,
            discard_reason=CANCELLED_UNSENT,
        ).values_list("source_id", flat=True)
    )
    if not cancelled:
        return set()
    live = set(
        SyncJob.objects.filter(
            source_connection=source_connection,
            entity="invoice",
            operation=Op.INVOICE_UPSERT,
            source_id__in=cancelled,
            state__in=(*OPEN_STATES, State.DONE),
        ).values_list("source_id", flat=True)
    )
    return cancelled - live
