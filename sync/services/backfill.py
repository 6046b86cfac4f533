"""Historical migration (backfill): a tenant's source records from a date, as a dry run and then for real.

Both runs read the sources the same way (the adapters' paged `changed` reads, a chunk at a time, so memory stays
bounded) and classify every record the same way:
- unchanged: our cross-reference already holds this version; updated: it holds an older one;
- matched: not ours yet, but Xero has it under its natural key (ContactNumber, InvoiceNumber or Reference, item
  Code: the lookups the drain uses after a lost response, batched 40 to a request) and it would be linked;
- blocked: the payload builders' problems (mapping gaps, the order's own numbers, policy), or a payment or refund
  whose invoice is neither in Xero nor part of this backfill;
- skipped: nothing to send by policy (an order cancelled before its invoice reached Xero);
- created: everything else.

A dry run stores that report and writes nothing, to Xero or to the job queue. A real run links the matched records
(a cross-reference and an audit entry, no Xero write) and stages the rest as backfill-priority jobs of this
backfill; the drain sends them after every live job and only while the day's Xero calls are below the backfill's
budget share (backfill_budget_allows). Staging is idempotent, so a run that crashed is simply run again.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from connections.canonical import fingerprint
from connections.models import Connection
from core.errors import ApplicationError, NotFoundError
from mappings.health import mapping_gaps
from sync.models import AuditEntry, Backfill, CrossReference, SyncJob
from sync.services.backfill_budget import DEFAULT_BUDGET_SHARE
from sync.services.backfill_plan import OUTCOMES, XERO_ENTITY, Line, Plan, records_classify
from sync.services.staging import jobs_stage_count, xero_connection_of

logger = logging.getLogger(__name__)

# The names users pick → the source adapters' entities, in the order a backfill reads them (dependencies first).
ENTITIES = {
    "contacts": "customer",
    "products": "product",
    "orders": "order",
    "payments": "payment",
    "refunds": "refund",
}
CHUNK = 100
MAX_REPORT_LINES = 2000
Status = Backfill.Status
State = SyncJob.State


def since_parse(value: str) -> datetime:
    """A backfill's start from text: a day (YYYY-MM-DD, from midnight UTC) or an ISO 8601 date-time with zone."""
    text = (value or "").strip()
    try:
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:
        day = moment = None
    if day:
        return datetime.combine(day, time.min, tzinfo=UTC)
    if moment is None or timezone.is_naive(moment):
        raise ApplicationError(
            f"“{value}” is not a date: use YYYY-MM-DD or an ISO 8601 date-time with a zone.",
            code="invalid",
            extra={"since": value},
        )
    return moment.astimezone(UTC)


def backfill_create(
    *, tenant, since, entities=None, dry_run: bool = False, budget_share=DEFAULT_BUDGET_SHARE, requested_by: str = ""
) -> Backfill:
    """A planned backfill of `entities` (default: all) from `since` (a date or an aware datetime, UTC).

    Refuses unknown entities, a share outside (0, 1], and a second real run while one is planned or running.
    """
    entities = list(entities or ENTITIES)
    unknown = [e for e in entities if e not in ENTITIES]
    if unknown or not entities:
        raise ApplicationError(
            f"Unknown entities: {', '.join(unknown) or '(none given)'}. Choose from {', '.join(ENTITIES)}.",
            code="invalid",
            extra={"entities": unknown, "allowed": list(ENTITIES)},
        )
    try:
        share = Decimal(str(budget_share)).quantize(Decimal("0.01"))
    except InvalidOperation:
        share = None
    if share is None or not Decimal("0") < share <= Decimal("1"):
        raise ApplicationError("The budget share must be above 0 and at most 1.", code="invalid")
    if not isinstance(since, datetime):
        since = datetime.combine(since, time.min, tzinfo=UTC)
    if timezone.is_naive(since):
        raise ApplicationError("The start of a backfill must carry a time zone.", code="invalid")
    try:
        with transaction.atomic():
            return Backfill.objects.create(
                tenant=tenant,
                since=since.astimezone(UTC),
                entities=[e for e in ENTITIES if e in entities],
                dry_run=dry_run,
                budget_share=share,
                requested_by=requested_by[:200],
            )
    except IntegrityError:
        raise ApplicationError(
            "A backfill is already running for this tenant; cancel it or let it finish first.", code="conflict"
        ) from None


def backfill_enqueue(*, backfill: Backfill) -> None:
    """Run the backfill in a worker (reading a long history takes longer than a web request may)."""
    from django_q.tasks import async_task

    async_task(
        "sync.tasks.backfill_run_task",
        backfill.pk,
        backfill.tenant_id,
        cluster="sync",
        task_name=f"backfill-{backfill.pk}",
    )


# Running ------------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    backfill: Backfill
    plan: Plan
    chunk: int = CHUNK
    counts: dict = field(default_factory=dict)
    causes: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)
    truncated: bool = False


def backfill_run(*, backfill: Backfill, transport=None, chunk: int = CHUNK) -> Backfill:
    """Run (or resume) a backfill: read, classify, and for a real run link and stage. Call in the tenant's scope.

    Source and Xero reads happen outside transactions; each chunk of a real run is linked and staged in its own
    transaction. A cancelled backfill stops at the next chunk. Failures leave status "failed" with the reason;
    running it again resumes (what was staged is found again, not duplicated). `chunk`: records per transaction.
    """
    from connections.providers.xero.tokens import xero_client_for
    from connections.sources import source_adapter

    if backfill.status in (Status.CANCELLED, Status.DONE):
        return backfill
    Backfill.objects.filter(pk=backfill.pk).update(
        status=Status.RUNNING, started_at=backfill.started_at or timezone.now(), error=""
    )
    backfill.refresh_from_db()
    try:
        xero = xero_connection_of(tenant_id=backfill.tenant_id)
        sources = Connection.objects.filter(tenant_id=backfill.tenant_id, status=Connection.Status.ACTIVE).exclude(
            provider__in=["xero", "rest"]
        )
        plan = Plan(client=xero_client_for(xero, transport=transport), dry_run=backfill.dry_run)
        run = _Run(backfill=backfill, plan=plan, chunk=chunk)
        try:
            for name in backfill.entities:
                for source in sources.order_by("pk"):
                    with source_adapter(source, transport=transport) as adapter:
                        if ENTITIES[name] not in adapter.entities:
                            continue
                        if not _read_entity(run, xero, source, adapter, name):
                            return backfill  # cancelled
        finally:
            plan.client.close()
    except ApplicationError as exc:
        _fail(backfill, exc.message)
        raise
    except Exception as exc:
        _fail(backfill, f"Unexpected error: {exc.__class__.__name__}")
        raise
    _finish_reading(run, xero)
    return backfill


def _fail(backfill: Backfill, reason: str) -> None:
    Backfill.objects.filter(pk=backfill.pk, status=Status.RUNNING).update(status=Status.FAILED, error=reason[:500])
    backfill.refresh_from_db()
    logger.warning("backfill %s failed: %s", backfill.pk, reason)


def _read_entity(run: _Run, xero, source, adapter, name: str) -> bool:
    """Read one entity of one source from the backfill's date, a chunk at a time. False when cancelled."""
    entity = ENTITIES[name]
    records = adapter.changed(entity, since=run.backfill.since)
    chunk = []
    try:
        for _, _, native in records:
            record = adapter.normalize(entity, native)
            if _dated(record) is not None and _dated(record) < run.backfill.since:
                continue  # updated since the date, but dated before it: not part of this history
            chunk.append(record)
            if len(chunk) >= run.chunk:
                if not _chunk(run, xero, adapter, name, chunk):
                    return False
                chunk = []
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
    return _chunk(run, xero, adapter, name, chunk) if chunk else True


def _dated(record) -> datetime | None:
    """The date a record belongs to in the history: an order's, payment's or refund's own date."""
    return (
        getattr(record, "created_at", None) or getattr(record, "paid_at", None) or getattr(record, "refunded_at", None)
    )


def _chunk(run: _Run, xero, adapter, name: str, records: list) -> bool:
    if Backfill.objects.filter(pk=run.backfill.pk, status=Status.CANCELLED).exists():
        return False
    lines = records_classify(
        plan=run.plan, xero=xero, adapter=adapter, entity=ENTITIES[name], name=name, records=records
    )
    if not run.backfill.dry_run:
        _link_and_stage(run.backfill, adapter.connection, name, lines)
    _tally(run, lines)
    return True


def _link_and_stage(backfill: Backfill, source, name: str, lines: list[Line]) -> None:
    """Link the matched records to what Xero has and stage the rest as this backfill's jobs, in one transaction."""
    entity = ENTITIES[name]
    xero_entity = XERO_ENTITY[entity]
    now = timezone.now()
    matched = [line for line in lines if line.outcome == "matched"]
    with transaction.atomic():
        # The backfill's row lock orders this chunk against a cancel: a cancelled backfill stages nothing more.
        if not Backfill.objects.select_for_update().filter(pk=backfill.pk, status=Status.RUNNING).exists():
            return
        existing = set(
            CrossReference.objects.filter(
                source_connection=source, entity=xero_entity, source_id__in=[m.record.source_id for m in matched]
            ).values_list("source_id", flat=True)
        )
        fresh = [m for m in matched if m.record.source_id not in existing]
        CrossReference.objects.bulk_create(
            [
                CrossReference(
                    tenant_id=backfill.tenant_id,
                    source_connection=source,
                    entity=xero_entity,
                    source_id=m.record.source_id,
                    xero_id=m.xero_id,
                    xero_number=m.xero_number,
                    # Linked as it is in Xero: the backfill never rewrites an existing record.
                    source_version=fingerprint(m.record),
                    payload_hash="",
                    synced_at=now,
                )
                for m in fresh
            ],
            ignore_conflicts=True,
        )
        AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    tenant_id=backfill.tenant_id,
                    entity=xero_entity,
                    source_id=m.record.source_id,
                    xero_id=m.xero_id,
                    operation="backfill.link",
                    outcome=AuditEntry.Outcome.MATCHED,
                    detail=f"Backfill {backfill.pk} linked it to the Xero record with {m.lookup[1]} {m.lookup[2]}."[
                        :500
                    ],
                )
                for m in fresh
            ]
        )
        items = [(entity, line.record) for line in lines if line.outcome != "matched"]
        if items:
            jobs_stage_count(source_connection=source, items=items, backfill=backfill)


def _tally(run: _Run, lines: list[Line]) -> None:
    for line in lines:
        per_entity = run.counts.setdefault(line.entity, dict.fromkeys(OUTCOMES, 0))
        per_entity[line.outcome] += 1
        for problem in line.causes if line.outcome == "blocked" else ():
            # One group per thing to fix (an unmapped tax key has one fix link, whichever line shows it).
            key = (problem.code, problem.fix_url or problem.cause)
            group = run.causes.setdefault(
                key, {"code": problem.code, "cause": problem.cause, "fix_url": problem.fix_url, "count": 0}
            )
            group["count"] += 1
        if not run.backfill.dry_run:
            continue
        if len(run.lines) >= MAX_REPORT_LINES:
            run.truncated = True
            continue
        run.lines.append(
            {
                "entity": line.entity,
                "source": line.source.display_name,
                "source_id": line.record.source_id,
                "label": _label(line.record),
                "outcome": line.outcome,
                "xero_id": line.xero_id,
                "causes": [p.cause for p in line.causes],
            }
        )


def _label(record) -> str:
    for name in ("number", "sku", "email"):
        value = getattr(record, name, "")
        if value:
            return str(value)
    return getattr(record, "name", "") or record.source_id


def _finish_reading(run: _Run, xero) -> None:
    backfill = run.backfill
    totals = dict.fromkeys(OUTCOMES, 0)
    for per_entity in run.counts.values():
        for outcome, n in per_entity.items():
            totals[outcome] += n
    report = {
        "entities": run.counts,
        "totals": totals,
        "causes": sorted(run.causes.values(), key=lambda g: (-g["count"], g["cause"])),
        "read_complete": True,
    }
    fields = {"report": report}
    if backfill.dry_run:
        report["lines"] = run.lines
        report["lines_truncated"] = run.truncated
        report["mapping_gaps"] = [p.cause for p in mapping_gaps(tenant=backfill.tenant)]
        fields.update(
            status=Status.DONE,
            finished_at=timezone.now(),
            total=sum(totals.values()),
            done=sum(totals.values()),
            created=totals["created"],
            matched=totals["matched"],
            blocked=totals["blocked"],
            unchanged=totals["unchanged"] + totals["skipped"],
        )
    else:
        # Records linked or already in Xero are done from the start; the staged jobs are counted as they go.
        fields.update(matched=totals["matched"], unchanged=totals["unchanged"] + totals["skipped"])
    Backfill.objects.filter(pk=backfill.pk, status=Status.RUNNING).update(**fields)
    backfill.refresh_from_db()
    if not backfill.dry_run:
        backfill_refresh(backfill=backfill)


# Progress, cancelling, the drain's budget --------------------------------------------------------------------


def backfill_refresh(*, backfill: Backfill) -> Backfill:
    """Count a real run's jobs into its progress; it is done once everything is read and nothing is left to send."""
    if backfill.dry_run:
        return backfill
    states = dict(
        SyncJob.objects.filter(backfill=backfill).values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    created = states.get(State.DONE, 0)
    # Superseded by a live change or discarded on purpose: handled, nothing more for the backfill to do.
    discarded = states.get(State.DISCARDED, 0)
    blocked = states.get(State.NEEDS_ATTENTION, 0) + states.get(State.DEAD, 0)
    open_jobs = states.get(State.PENDING, 0) + states.get(State.RUNNING, 0)
    fields = {
        "total": sum(states.values()) + backfill.matched + backfill.unchanged,
        "done": created + discarded + backfill.matched + backfill.unchanged,
        "created": created,
        "blocked": blocked,
    }
    if backfill.status == Status.RUNNING and backfill.report.get("read_complete") and not open_jobs:
        fields.update(status=Status.DONE, finished_at=timezone.now())
    if all(getattr(backfill, name) == value for name, value in fields.items()):
        return backfill  # pages and the progress API read often; most reads change nothing
    Backfill.objects.filter(pk=backfill.pk).update(**fields)
    backfill.refresh_from_db()
    return backfill


def backfill_cancel(*, backfill: Backfill, actor: str) -> Backfill:
    """Stop a backfill: reading stops at the next chunk and its jobs not yet sent are discarded (kept, with why)."""
    if backfill.status in (Status.DONE, Status.CANCELLED):
        raise ApplicationError(f"This backfill is already {backfill.get_status_display().lower()}.", code="conflict")
    with transaction.atomic():
        Backfill.objects.select_for_update().filter(pk=backfill.pk).update(
            status=Status.CANCELLED, finished_at=timezone.now()
        )
        SyncJob.objects.filter(backfill=backfill, state__in=(State.PENDING, State.NEEDS_ATTENTION)).update(
            state=State.DISCARDED, discard_reason=f"Backfill cancelled by {actor}."[:500], finished_at=timezone.now()
        )
    backfill.refresh_from_db()
    if not backfill.dry_run:
        # Counts only: a cancelled backfill stays cancelled.
        backfill_refresh(backfill=backfill)
    return backfill


def backfill_get(*, tenant, id: int) -> Backfill:
    backfill = Backfill.objects.filter(tenant=tenant, pk=id).first()
    if backfill is None:
        raise NotFoundError("Backfill not found.")
    return backfill
