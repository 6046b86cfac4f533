"""The drain: one per Xero connection at a time, writing due jobs to Xero in batches of up to 50.

Each pass takes due jobs by priority (payments and refunds before new records, live before backfill), keeps only
those whose dependency is already in Xero (a contact before its invoice, an invoice before its payment), builds
their payloads from the tenant's mappings, sends one batch with summarizeErrors=false and an Idempotency-Key, and
records per element the cross-reference, an audit entry and the job's state. Failures follow sync.services.failures.
A job retried after an attempt whose answer may have been lost is first looked up in Xero by its natural key, so a
lost response never makes a duplicate.
"""

import contextvars
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import NamedTuple

import orjson
from django.conf import settings
from django.db import connections, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat
from django.utils import timezone

from connections.canonical import from_json
from connections.models import Connection
from connections.providers.xero import accounting
from connections.providers.xero.client import XeroClient
from connections.providers.xero.reference import xero_reference_items_merge
from connections.services import connection_mark_needs_reauth, connection_record_activity
from core import bulk, jsonexact, jsonfast
from core.allocator import allocator_release
from core.errors import ProviderAuthError, RequestError, RetryableError
from core.fields import StoredJson, stored_json_load
from core.statistics import statistics_refresh_if_stale
from sync.models import AuditEntry, CrossReference, DrainLease, SyncJob
from sync.services import failures, lost_applications
from sync.services.backfill_budget import backfill_budget_allows
from sync.services.conflicts import synced_values_after_send
from sync.services.contact_matching import contacts_link_existing
from sync.services.item_prices import item_prices_settle, item_synced_values
from sync.services.payloads import NAME_TAKEN, refusal_cause

logger = logging.getLogger(__name__)

Op = SyncJob.Operation
State = SyncJob.State


def _lease() -> timedelta:
    return timedelta(seconds=settings.SYNC_LEASE_SECONDS)


# A job whose dependency is not in Xero yet is looked at again after this long (no attempt is spent).
DEPENDENCY_WAIT = timedelta(seconds=60)
# Within one priority, the order that satisfies dependencies.
OPERATION_RANK = {
    Op.CONTACT_UPSERT: 0,
    Op.ITEM_UPSERT: 1,
    Op.INVOICE_UPSERT: 2,
    Op.INVOICE_VOID: 3,
    Op.PAYMENT_CREATE: 4,
    Op.CREDIT_NOTE_CREATE: 5,
    Op.CREDIT_NOTE_ALLOCATE: 6,
}
# What each dependent operation waits for: a short batch of it yields to these while they are ready to go and some
# of it waits for their records, since each of their batches that lands makes more of it ready (fuller requests,
# fewer calls). A payment of a refund waits for its credit note, a credit note for its invoice.
FILLED_BY = {
    Op.PAYMENT_CREATE: (Op.INVOICE_UPSERT, Op.CREDIT_NOTE_CREATE),
    Op.CREDIT_NOTE_CREATE: (Op.INVOICE_UPSERT,),
}
# A short batch yields to its fillers for at most this long after its oldest job became ready, then goes as it is:
# a refund never starves behind a long backlog of invoices. Filling 50 credit notes takes a few invoice batches,
# each some seconds at Xero (more on a loaded worker); five minutes leaves room for that and is still prompt.
FILL_WAIT = timedelta(minutes=5)
# The natural key each entity is looked up by after a possibly lost response.
NATURAL_KEYS = {
    "contact": "ContactNumber",
    "invoice": "InvoiceNumber",
    "credit_note": "CreditNoteNumber",
    "item": "Code",
}
CANDIDATES_PER_PASS = 500
# The tables each batch writes to, whose statistics the drain keeps fresh. The audit entries too: with statistics
# from before a tenant's first batches, reading what was applied to an invoice went through all of the tenant's
# audit entries rather than from its payments' jobs (payloads._InvoiceState).
BATCH_TABLES = (SyncJob, CrossReference, AuditEntry)


class Candidate(NamedTuple):
    """What choosing a batch reads of a due job: not its canonical record (only the chosen batch's are loaded), and
    a plain tuple rather than a model instance, since every pass reads up to CANDIDATES_PER_PASS of them.

    Nor its due time, which would be parsed 500 times a pass for two uses: windows are read in due order, so a
    job's place in them orders it, and `fill_waited` says whether it has been due for FILL_WAIT already. Whether
    its dependency is in Xero is read with it (`dependency_in_xero`, one index probe each), not in a second query.
    """

    id: int
    tenant_id: int
    source_connection_id: int
    operation: str
    entity: str
    priority: int
    depends_on_entity: str
    depends_on_source_id: str
    source_id: str
    fill_waited: bool
    dependency_in_xero: bool

    @property
    def pk(self) -> int:
        return self.id


class _Due(NamedTuple):
    """The connection's due pending jobs at `now` that _candidates reads windows of: all of them in the windows'
    order (priority, due time, id), or those of one `operation` but the `excluded` ids, in due order (_more_of)."""

    xero_connection: Connection
    now: datetime
    operation: str | None = None
    excluded: tuple[int, ...] = ()

    def queryset(self):
        jobs = SyncJob.objects.filter(
            xero_connection=self.xero_connection, state=State.PENDING, next_attempt_at__lte=self.now
        )
        if self.operation is None:
            return jobs.order_by("priority", "next_attempt_at", "id")
        return jobs.filter(operation=self.operation).exclude(pk__any=self.excluded).order_by("next_attempt_at", "id")


def _candidates(due: _Due, limit: int, *, after: Candidate | None = None) -> list[Candidate]:
    """Up to `limit` of the `due` jobs, in their order, from the one after `after` when given."""
    if transaction.get_connection().vendor == "postgresql":
        return _candidates_read(due, limit, after)
    jobs = due.queryset()
    if after is not None:
        # The window read before this one is not read again: its rows stay as they were, only the rows moved out
        # of it (waiting for a dependency) make room for more. Row comparison in the windows' order.
        table = SyncJob._meta.db_table
        # Only the table's name is formatted in; the job's id is a parameter.
        jobs = jobs.filter(
            RawSQL(  # noqa: S611
                f'("{table}"."priority", "{table}"."next_attempt_at", "{table}"."id") > '  # noqa: S608
                f'(SELECT w.priority, w.next_attempt_at, w.id FROM "{table}" w WHERE w.id = %s)',
                (after.id,),
                output_field=BooleanField(),
            )
        )
    in_xero = CrossReference.objects.filter(
        source_connection_id=OuterRef("source_connection_id"),
        entity=OuterRef("depends_on_entity"),
        source_id=OuterRef("depends_on_source_id"),
    )
    rows = jobs.annotate(
        fill_waited=ExpressionWrapper(Q(next_attempt_at__lte=due.now - FILL_WAIT), output_field=BooleanField()),
        dependency_in_xero=Exists(in_xero),
    ).values_list(*Candidate._fields)[:limit]
    return [Candidate(*row) for row in rows]


def _candidates_read(due: _Due, limit: int, after: Candidate | None) -> list[Candidate]:
    """_candidates on PostgreSQL: the same query as one plain statement. A pass reads a window or two for every
    batch, and building and compiling the query (its annotations, the cross-reference probe) cost more than
    running it.

    The window is read first and each of its rows then probes the cross-references (a lateral join): asked as an
    EXISTS of every due row, the planner, counting on all of them rather than the window's, hashed all of the
    tenant's cross-references for every window, however few rows it held (most of a window's time, and growing
    with every record sent)."""
    jobs, xrefs = SyncJob._meta.db_table, CrossReference._meta.db_table
    tenant_id = due.xero_connection.tenant_id
    sql = [
        f"""SELECT j.id, j.tenant_id, j.source_connection_id, j.operation, j.entity, j.priority,
            j.depends_on_entity, j.depends_on_source_id, j.source_id, j.fill_waited, x.found IS NOT NULL
        FROM (
            SELECT j.id, j.tenant_id, j.source_connection_id, j.operation, j.entity, j.priority,
                j.depends_on_entity, j.depends_on_source_id, j.source_id, j.next_attempt_at,
                j.next_attempt_at <= %s AS fill_waited
            FROM "{jobs}" j
            WHERE j.tenant_id = %s AND j.xero_connection_id = %s AND j.state = %s AND j.next_attempt_at <= %s"""  # noqa: S608
    ]
    params = [due.now - FILL_WAIT, tenant_id, due.xero_connection.pk, State.PENDING, due.now]
    if due.operation is not None:
        sql.append("AND j.operation = %s AND NOT (j.id = ANY(%s::bigint[]))")
        params += [due.operation, list(due.excluded)]
    if after is not None:
        # As in _candidates: the rows after the one the last window ended with, where it sorts now. Read once, by
        # the tenant given (not the row's), so the index scan starts there rather than filtering every row up to it.
        sql.append(
            f'AND (j.priority, j.next_attempt_at, j.id) > (SELECT w.priority, w.next_attempt_at, w.id FROM "{jobs}" w '  # noqa: S608
            "WHERE w.tenant_id = %s AND w.id = %s)"
        )
        params += [tenant_id, after.id]
    order = (
        "ORDER BY j.next_attempt_at, j.id"
        if due.operation is not None
        else "ORDER BY j.priority, j.next_attempt_at, j.id"
    )
    sql.append(
        f"""{order} LIMIT %s
        ) j
        LEFT JOIN LATERAL (
            SELECT true AS found FROM "{xrefs}" x
            WHERE x.tenant_id = %s AND x.source_connection_id = j.source_connection_id
            AND x.entity = j.depends_on_entity AND x.source_id = j.depends_on_source_id LIMIT 1
        ) x ON true
        {order}"""  # noqa: S608
    )
    params += [limit, tenant_id]
    with transaction.get_connection().cursor() as cursor:
        # Only the tables' names are formatted in; every value is a parameter.
        cursor.execute(" ".join(sql), params)
        return [Candidate(*row) for row in cursor.fetchall()]


THROTTLE_CODES = ("rate_limited", "provider_rate_limited")


@dataclass
class DrainReport:
    batches: int = 0
    sent: int = 0
    done: int = 0
    matched: int = 0
    needs_attention: int = 0
    retrying: int = 0
    dead: int = 0
    busy: bool = False
    by_operation: dict = field(default_factory=dict)
    # Requests sent to Xero per operation (a batch is one request).
    requests_by_operation: dict = field(default_factory=dict)

    def add(self, other: "DrainReport") -> None:
        """Count in what a batch sent alongside this run recorded (its own report, so no count is shared)."""
        for name in ("batches", "sent", "done", "matched", "needs_attention", "retrying", "dead"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("by_operation", "requests_by_operation"):
            mine = getattr(self, name)
            for operation, n in getattr(other, name).items():
                mine[operation] = mine.get(operation, 0) + n


def _default_client(connection: Connection, transport) -> XeroClient:
    from connections.providers.xero.tokens import xero_client_for

    return xero_client_for(connection, transport=transport)


# Leases -------------------------------------------------------------------------------------------------------


def drain_lease_acquire(*, xero_connection: Connection, holder: str) -> bool:
    """Take the connection's drain lease if it is free or expired (works across every qcluster host)."""
    now = timezone.now()
    DrainLease.objects.get_or_create(xero_connection=xero_connection, defaults={"tenant_id": xero_connection.tenant_id})
    taken = (
        DrainLease.objects.filter(xero_connection=xero_connection)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder))
        .update(holder=holder, expires_at=now + _lease())
    )
    return taken == 1


def _drain_lease_renew(*, xero_connection: Connection, holder: str) -> bool:
    """Extend a lease this drain holds; False when it no longer does (it ran out and another drain took it)."""
    renewed = DrainLease.objects.filter(xero_connection=xero_connection, holder=holder).update(
        expires_at=timezone.now() + _lease()
    )
    return renewed == 1


def drain_lease_release(*, xero_connection: Connection, holder: str) -> None:
    DrainLease.objects.filter(xero_connection=xero_connection, holder=holder).update(holder="", expires_at=None)


# The drain ----------------------------------------------------------------------------------------------------


def drain_run(
    *,
    xero_connection: Connection,
    transport=None,
    client_factory: Callable[[Connection, object], XeroClient] = _default_client,
    payload_builder: Callable | None = None,
    max_batches: int | None = None,
    time_budget: float = 240.0,
) -> DrainReport:
    """Drain due jobs of one Xero connection until none is ready, the budget is spent, or Xero asks us to wait.

    While one batch is at Xero the next is chosen and built (_Flight). `payload_builder(jobs, *, own_xrefs,
    xero_connection)` defaults to the tenant's mappings (sync.services.payloads.build_payloads).
    """
    if payload_builder is None:
        from sync.services.payloads import build_payloads as payload_builder
    report = DrainReport()
    holder = f"drain-{uuid.uuid4().hex[:12]}"
    if not drain_lease_acquire(xero_connection=xero_connection, holder=holder):
        report.busy = True
        return report
    started = renewed = time.monotonic()
    client = client_factory(xero_connection, transport)
    flight = _Flight(report, overlap=_can_overlap(), lanes=settings.SYNC_DRAIN_IN_FLIGHT)
    kept = KeptWindow()
    # The source connections of the run's batches, read once each rather than with every batch.
    sources: dict[int, Connection] = {}
    try:
        while not flight.stop and (max_batches is None or report.batches < max_batches):
            if time.monotonic() - started > time_budget:
                break
            xero_connection.status = _status(xero_connection)
            if xero_connection.status != Connection.Status.ACTIVE:
                break
            batch = _next_batch(xero_connection, in_flight=flight.records, kept=kept, sources=sources)
            if not batch:
                if flight.busy:
                    # What is at Xero may make more ready (the invoices its contacts wait for): look again after.
                    flight.land()
                    continue
                break
            if time.monotonic() - renewed > _lease().total_seconds() / 3:
                # Renewed well before it runs out, not before every batch: each renewal is a commit of its own. A
                # drain that paused past its lease finds another holding the connection and leaves it to that one.
                if not _drain_lease_renew(xero_connection=xero_connection, holder=holder):
                    break
                renewed = time.monotonic()
            sendable, stop = _prepare_batch(client, xero_connection, batch, report, payload_builder)
            report.batches += 1
            if flight.make_room() or stop:
                # The jobs just prepared were not marked running: they stay pending, as they were.
                break
            if sendable:
                sendable = _mark_running(sendable)
            if sendable:
                flight.send(lambda sub, jobs=sendable: _send_batch(client, xero_connection, jobs, sub), sendable)
            # Every batch moves jobs between states and adds cross-references and audit entries (core.statistics).
            statistics_refresh_if_stale(*BATCH_TABLES)
        flight.land_all()
    finally:
        flight.close()
        client.close()
        drain_lease_release(xero_connection=xero_connection, holder=holder)
        allocator_release()
    if report.sent:
        # Once per run, not per batch: the idle clock counts days.
        connection_record_activity(connection=xero_connection)
    _alert(xero_connection, report)
    return report


def _status(xero_connection: Connection) -> str:
    """The connection's status as it is now (disconnected or waiting for re-authorisation meanwhile, say), read
    before every batch: one plain statement, where refresh_from_db cost a model query's compilation each time."""
    table = Connection._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        # Only the table's name is formatted in.
        cursor.execute(
            f'SELECT status FROM "{table}" WHERE id = %s AND tenant_id = %s',  # noqa: S608
            [xero_connection.pk, xero_connection.tenant_id],
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def _can_overlap() -> bool:
    """Whether a batch is sent from a second thread, on a connection of its own: when settings.SYNC_DRAIN_OVERLAP says
    so (the default). Never inside a transaction (a test's, say): another connection would not see what it has not
    committed. Never on SQLite, which takes one writer at a time.
    """
    connection = transaction.get_connection()
    return settings.SYNC_DRAIN_OVERLAP and connection.vendor == "postgresql" and not connection.in_atomic_block


class _Flight:
    """The batches at Xero while the drain chooses and builds the next one.

    Xero takes a second or more to answer a batch of 50 invoices and allows five calls in flight per organisation,
    while choosing and building a batch is our own work (reads, payloads): overlapping them keeps the drain from
    idling on either. Up to `lanes` batches are in flight (settings.SYNC_DRAIN_IN_FLIGHT), each sent and recorded on
    a thread and database connection of its own, exactly as it would be inline. Dependencies stay simple: the next
    batch never holds a record that is in flight, nor one whose dependency is (both wait for its answer,
    _split_by_dependency). Where no second connection can see the same data (_can_overlap), `send` runs it inline.
    """

    def __init__(self, report: DrainReport, *, overlap: bool, lanes: int = 1):
        lanes = max(1, lanes) if overlap else 0
        # One single-thread pool per lane: each lane's thread keeps its own database connection, closed at the end.
        self._lanes = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="drain-send") for _ in range(lanes)]
        # Oldest first: (lane, future, the report its batch counts into, its records).
        self._flying: list[tuple[int, Future, DrainReport, frozenset]] = []
        # The run's report (no count is written by two threads: each batch has its own until it lands).
        self._report = report
        # Set once a landed batch says the drain should stop (throttled, auth, outage).
        self.stop = False

    @property
    def busy(self) -> bool:
        return bool(self._flying)

    @property
    def records(self) -> frozenset[tuple[int, str, str]]:
        """(source connection, entity, source id) of each record in flight."""
        return frozenset().union(*(records for _, _, _, records in self._flying))

    def make_room(self) -> bool:
        """Land the oldest batches until a lane is free for the next; True once the drain should stop."""
        while self._flying and len(self._flying) >= max(1, len(self._lanes)):
            self.land()
        return self.stop

    def send(self, work: Callable[[DrainReport], bool], jobs: list[SyncJob]) -> None:
        """Start `work(report)` (send one batch and record it; True means stop) for these jobs, on a free lane (call
        make_room first); inline, it lands before this returns."""
        batch_report = DrainReport()
        records = frozenset((j.source_connection_id, j.entity, j.source_id) for j in jobs)
        if self._lanes:
            busy = {lane for lane, _, _, _ in self._flying}
            lane = next(index for index in range(len(self._lanes)) if index not in busy)
            # In the drain's context: its tenant scope (django-scopes keeps it in a context variable) goes along.
            future = self._lanes[lane].submit(contextvars.copy_context().run, work, batch_report)
            self._flying.append((lane, future, batch_report, records))
            return
        future = Future()
        try:
            future.set_result(work(batch_report))
        except Exception as exc:  # noqa: BLE001 - raised as an overlapped batch's is: on landing
            future.set_exception(exc)
        self._flying.append((-1, future, batch_report, records))
        self.land()

    def land(self) -> bool:
        """Wait for the oldest batch in flight and count its outcome into the run's report; True once the drain
        should stop."""
        if self._flying:
            _, future, batch_report, _ = self._flying.pop(0)
            try:
                self.stop = future.result() or self.stop
            finally:
                self._report.add(batch_report)
        return self.stop

    def land_all(self) -> bool:
        """Wait for every batch in flight; True once the drain should stop. The first failure is raised once all
        have landed (each records its own answer meanwhile)."""
        failure = None
        while self._flying:
            try:
                self.land()
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the others land
                failure = failure or exc
        if failure is not None:
            raise failure
        return self.stop

    def close(self) -> None:
        """End the sending threads, after the batches in flight (if any) are recorded, and their database
        connections."""
        for _, future, _, _ in self._flying:
            try:
                future.result()
            except Exception:
                logger.exception("a batch sent while the drain was failing failed too")
        self._flying = []
        for lane in self._lanes:
            lane.submit(connections.close_all).result()
            lane.shutdown()


def _alert(xero_connection: Connection, report: DrainReport) -> None:
    """Hand the run's alerts to a task (sync.tasks.drain_alerts_task): the first failure of a quiet tenant is
    reported at once, a day-limit park once per day.

    Not sent from here: rendering and sending an email (an SMTP server may take seconds, or time out) would hold the
    connection's lease and its next batches, and an email that failed to send would fail a run whose work is done.
    """
    from django_q.tasks import async_task

    failures = bool(report.needs_attention or report.dead)
    day_limit = False
    if report.retrying:
        xero_connection.refresh_from_db(fields=["day_limit_reset_at"])
        reset_at = xero_connection.day_limit_reset_at
        day_limit = reset_at is not None and reset_at > timezone.now()
    if failures or day_limit:
        async_task(
            "sync.tasks.drain_alerts_task",
            xero_connection.pk,
            xero_connection.tenant_id,
            failures,
            day_limit,
            task_name=f"alerts-{xero_connection.pk}",
        )


@dataclass
class KeptWindow:
    """The ready jobs a pass read and did not choose, for the passes right after it (one drain run's).

    A window holds up to CANDIDATES_PER_PASS ready jobs and a batch takes at most 50 of them: reading it again for
    every batch read the same rows over and over (a query with a probe of the cross-references per row, the
    drain's costliest). What was ready stays ready: a job whose dependency is in Xero keeps it, and _load takes
    only the jobs still pending and due, whatever changed meanwhile (a newer version replaced one, say). What the
    kept rows cannot show is what became due since: jobs just staged or woken sort after them within their
    priority, and are read by the next full pass, once the kept rows no longer make a full batch or at most MAX_AGE
    later; a job of a more urgent priority may wait that long too. Counting reuses as well cut a window short
    while it still held full batches, and the windows were read again: about 1 s of PostgreSQL per 5,000 orders.
    """

    MAX_AGE = timedelta(seconds=5)

    ready: list[Candidate] = field(default_factory=list)
    read_at: datetime | None = None

    def take(self, now: datetime, in_flight: frozenset) -> list[Candidate]:
        """The kept jobs that may go in the next batch, or [] when a full pass should read the windows again."""
        if not self.ready or now - self.read_at > self.MAX_AGE:
            self.ready = []
            return []
        # Those about a record now in flight, or depending on one, are left to the next full pass.
        ready, _ = _split_by_dependency(self.ready, in_flight)
        return ready

    def keep(self, ready: list[Candidate], now: datetime, *, fresh: bool) -> None:
        self.ready = ready
        if fresh:
            self.read_at = now


def _next_batch(
    xero_connection: Connection,
    batch_size: int = accounting.BATCH_SIZE,
    *,
    in_flight: frozenset = frozenset(),
    kept: KeptWindow | None = None,
    sources: dict[int, Connection] | None = None,
) -> list[SyncJob]:
    """The next ready batch: one operation, up to 50 due jobs whose dependency is already in Xero.

    Due jobs are read in index order; those whose dependency is not in Xero yet are moved out of the way (with
    their cause) and woken the moment it lands (_wake_dependants), so a backlog of payments waiting for their
    invoices never hides the invoices behind them, and no pass scans more than one window. Jobs about a record in
    `in_flight`, or depending on one, are left as they are for a later batch (_split_by_dependency). With `kept`,
    the ready jobs a recent pass read and did not choose are chosen from before the windows are read again.
    `sources` keeps the source connections read for earlier batches of the run (see _load).
    """
    now = timezone.now()
    due = _Due(xero_connection, now)
    if kept is not None:
        ready = kept.take(now, in_flight)
        if ready:
            batch = _choose(xero_connection, due, ready, batch_size, now, in_flight, kept, fresh=False, sources=sources)
            if batch:
                return batch
            # Only a short batch of them could go, or none (replaced meanwhile, say): the windows are read again.
    # In the order the windows are read (by due time within each priority).
    ready: list[Candidate] = []
    read: set[int] = set()
    room, after = CANDIDATES_PER_PASS, None
    while True:
        window = _candidates(due, room, after=after)
        ready_here, blocked = _split_by_dependency(window, in_flight)
        # A later window starts from where the last row that stayed is now, and the batch in flight may have moved
        # that row earlier meanwhile (it wakes the jobs waiting for what it sent): rows already read come round
        # again, and a job twice in a batch is sent twice in one request.
        ready += [job for job in ready_here if job.pk not in read]
        read.update(job.pk for job in window)
        if not blocked:
            break
        _wait_for_dependencies(blocked)
        if len(window) < room:
            break
        # A full window cut short by the jobs just moved aside may hide what a short batch of payments would wait
        # for (the invoices behind them): choose from the rows beyond it as well, as many as were moved aside. They
        # start after the window's last row that stayed where it was: a row moved aside now sorts in the future,
        # past every due row of its priority. When every row moved, the due rows left begin beyond the window.
        moved = {job.pk for job in blocked}
        room, after = len(blocked), next((job for job in reversed(window) if job.pk not in moved), None)
    if not ready:
        if kept is not None:
            kept.keep([], now, fresh=True)
        return []
    # A stable sort: within one priority and operation, the order read (due time, then id) stands.
    ready.sort(key=lambda j: (j.priority, OPERATION_RANK.get(j.operation, 9)))
    return _choose(xero_connection, due, ready, batch_size, now, in_flight, kept, fresh=True, sources=sources)


def _choose(
    xero_connection,
    due,
    ready: list[Candidate],
    batch_size: int,
    now,
    in_flight,
    kept: KeptWindow | None,
    *,
    fresh,
    sources: dict[int, Connection] | None = None,
) -> list[SyncJob]:
    """The batch chosen from the `ready` jobs (sorted), loaded; what is not chosen is kept for the next passes."""
    if ready[0].priority >= SyncJob.PRIORITY_BACKFILL and not backfill_budget_allows(xero_connection=xero_connection):
        # A backfill spends only its share of the day's Xero calls; live jobs sort ahead of it, so none
        # is ready here. Its jobs stay pending until the budget allows (tomorrow, or a larger share).
        if kept is not None:
            kept.keep([], now, fresh=True)
        return []
    operation = _next_operation(xero_connection, ready, batch_size, now)
    same = [job for job in ready if job.operation == operation]
    size = min(batch_size, accounting.batch_size(same[0].entity))
    if not fresh and len(same) < size:
        # A short batch is chosen from what is due now: a full pass sees what it may yield to (FILLED_BY), and
        # what became due since the kept rows were read.
        return []
    batch = same[:size]
    if len(batch) < size:
        batch += _more_of(due, operation, batch, size - len(batch), now, in_flight)
    if kept is not None:
        chosen = {job.pk for job in batch}
        kept.keep([job for job in ready if job.pk not in chosen], now, fresh=fresh)
    return _load(xero_connection.tenant_id, [job.pk for job in batch], now, sources)


def _next_operation(xero_connection: Connection, ready: list[Candidate], batch_size: int, now) -> str:
    """The operation of the next batch: the first ready job's, unless its batch would be short while more of it is
    coming. More is coming when jobs of it wait for records that ready jobs of its FILLED_BY operations are about to
    send (payments for the invoices in this window); those go first, and it follows in a fuller request.

    The operation it yields to is weighed the same way, so a short batch of refunds yielded to by payments yields in
    turn to the invoices the refunds wait for. A short batch still goes when nothing more of it is coming or its
    oldest ready job has waited FILL_WAIT, and it yields only to jobs of its own class: live payments never wait for
    backfill invoices.
    """
    operation = ready[0].operation
    # Live jobs sort first: a live first job makes only live fillers count, a backfill one any (live or backfill).
    allowed = max(ready[0].priority, SyncJob.PRIORITY_LIVE)
    weighed = set()
    while operation not in weighed:
        weighed.add(operation)
        same = [job for job in ready if job.operation == operation]
        fillers = [job for job in ready if job.operation in FILLED_BY.get(operation, ()) and job.priority <= allowed]
        if (
            not fillers
            or len(same) >= min(batch_size, accounting.batch_size(same[0].entity))
            or any(job.fill_waited for job in same)
            or not _waiting_for(xero_connection, operation, fillers, now)
        ):
            return operation
        operation = fillers[0].operation
    return operation


def _waiting_for(xero_connection: Connection, operation: str, fillers: list[Candidate], now) -> bool:
    """Whether jobs of `operation` are waiting (moved aside, not due) for records the `fillers` are about to send."""
    records: dict[tuple[int, str], set[str]] = {}
    for job in fillers:
        records.setdefault((job.source_connection_id, job.entity), set()).add(job.source_id)
    if transaction.get_connection().vendor != "postgresql":
        wanted = Q()
        for (source_connection_id, entity), source_ids in records.items():
            wanted |= Q(
                source_connection_id=source_connection_id,
                depends_on_entity=entity,
                depends_on_source_id__any=source_ids,
            )
        return SyncJob.objects.filter(
            wanted, xero_connection=xero_connection, state=State.PENDING, operation=operation, next_attempt_at__gt=now
        ).exists()
    # The same question as one plain statement: it is asked for most batches, and compiling the query cost more
    # than its work (the dependency index, sync_job_dependency, finds the few rows).
    wanted, params = [], [xero_connection.tenant_id, xero_connection.pk, State.PENDING, operation, now]
    for (source_connection_id, entity), source_ids in records.items():
        wanted.append(
            "(source_connection_id = %s AND depends_on_entity = %s AND depends_on_source_id = ANY(%s::varchar[]))"
        )
        params += [source_connection_id, entity, list(source_ids)]
    table = SyncJob._meta.db_table
    # Only the table's name and the conditions' placeholders are formatted in; every value is a parameter.
    sql = (
        f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE tenant_id = %s AND xero_connection_id = %s'  # noqa: S608
        f" AND state = %s AND operation = %s AND next_attempt_at > %s AND ({' OR '.join(wanted)}))"
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _more_of(
    due: _Due, operation: str, batch: list[Candidate], room: int, now, in_flight: frozenset
) -> list[Candidate]:
    """Fill a short batch with more ready jobs of the same operation (of the `due` ones): fewer, fuller requests."""
    more = _candidates(due._replace(operation=operation, excluded=tuple(job.pk for job in batch)), room * 4)
    ready, _ = _split_by_dependency(more, in_flight)
    return ready[:room]


def _load(
    tenant_id: int, job_ids: list[int], now: datetime, sources: dict[int, Connection] | None = None
) -> list[SyncJob]:
    """The chosen jobs in full (canonical record, source connection), in the order chosen, as far as they are still
    pending and due (a kept job may have been replaced by a newer version since it was read). A batch's jobs come
    from one source connection or a few: each is read once, not joined into every job's row, and, given the run's
    `sources`, once per run: reading it with its tenant cost a query's compilation for every batch, and payloads
    use only what a run does not change (its tenant, its mappings' key)."""
    jobs = {job.pk: job for job in _pending_due(tenant_id, job_ids, now)}
    sources = {} if sources is None else sources
    missing = {job.source_connection_id for job in jobs.values()} - sources.keys()
    if missing:
        sources.update(Connection.objects.select_related("tenant").in_bulk(missing))
    for job in jobs.values():
        job.source_connection = sources[job.source_connection_id]
    return [jobs[pk] for pk in job_ids if pk in jobs]


def _pending_due(tenant_id: int, job_ids: list[int], now: datetime) -> list[SyncJob]:
    """Those of the tenant's jobs `job_ids` still pending and due, as model instances, in no order (_rows), each
    canonical record as its stored text (core.fields.StoredJson): a batch's 50 records decoded at once were the
    largest thing the drain held while it built the batch and the one before it landed (about 1 MB for invoices)."""
    if transaction.get_connection().vendor != "postgresql":
        return list(SyncJob.objects.filter(pk__any=job_ids, state=State.PENDING, next_attempt_at__lte=now))
    return _rows(
        SyncJob,
        "tenant_id = %s AND id = ANY(%s::bigint[]) AND state = %s AND next_attempt_at <= %s",
        (tenant_id, list(job_ids), State.PENDING, now),
        stored=("record",),
    )


def record_document(job: SyncJob) -> dict:
    """The job's canonical record as a JSON document ({"entity": …, "data": …}), however the job was read."""
    return stored_json_load(job.record)


def _rows(model, where: str, params, *, stored: tuple[str, ...] = ()) -> list:
    """The rows of `model` that `where` selects, as model instances made as the ORM makes them (their JSON columns
    decoded by their fields), in no order. PostgreSQL only. The JSON columns named in `stored` are left as their
    text (core.fields.StoredJson).

    Read by one plain statement of every column: building and compiling the query for every batch cost the drain
    more than reading its rows. `where` names only columns; every value is one of `params`."""
    connection = transaction.get_connection()
    fields = model._meta.concrete_fields
    columns = ", ".join(f'"{model_field.column}"' for model_field in fields)
    # Only the table's and its columns' names are formatted in, and the caller's conditions on them.
    sql = f'SELECT {columns} FROM "{model._meta.db_table}" WHERE {where}'  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    names = [model_field.attname for model_field in fields]
    decoded = [
        (
            index,
            StoredJson
            if json_field.attname in stored
            else partial(json_field.from_db_value, expression=None, connection=connection),
        )
        for index, json_field in enumerate(fields)
        if hasattr(json_field, "from_db_value")
    ]
    instances = []
    for row in rows:
        values = list(row)
        for index, decode in decoded:
            values[index] = decode(values[index])
        instances.append(model.from_db(connection.alias, names, values))
    return instances


def cross_references(tenant_id: int, source_connection_ids, entity: str, source_ids) -> list[CrossReference]:
    """The tenant's cross-references of `entity` for these source ids of these source connections: read for every
    batch (its own records' before building it, again when recording it), by one plain statement (_rows)."""
    if transaction.get_connection().vendor != "postgresql":
        return list(
            CrossReference.objects.filter(
                source_connection_id__in=set(source_connection_ids), entity=entity, source_id__any=list(source_ids)
            )
        )
    return _rows(
        CrossReference,
        "tenant_id = %s AND source_connection_id = ANY(%s::bigint[]) AND entity = %s"
        " AND source_id = ANY(%s::varchar[])",
        (tenant_id, list(set(source_connection_ids)), entity, list(set(source_ids))),
    )


def _split_by_dependency(
    jobs: list[Candidate], in_flight: frozenset = frozenset()
) -> tuple[list[Candidate], list[Candidate]]:
    """(ready, blocked): ready jobs have no dependency or have it in Xero already (read with them); blocked ones
    wait for a dependency that is not. A job about a record in flight (its next version: sent now, it would be built
    from the cross-reference as it was before that answer) or depending on one is neither: it is looked at again
    once the answer is recorded."""
    ready, blocked = [], []
    for job in jobs:
        if in_flight and (
            (job.source_connection_id, job.entity, job.source_id) in in_flight
            or (job.source_connection_id, job.depends_on_entity, job.depends_on_source_id) in in_flight
        ):
            continue
        (ready if not job.depends_on_entity or job.dependency_in_xero else blocked).append(job)
    return ready, blocked


def _wait_for_dependencies(jobs: list[Candidate]) -> None:
    """Move jobs aside until their dependency lands (one UPDATE; the cause names the dependency)."""
    until = timezone.now() + DEPENDENCY_WAIT
    if transaction.get_connection().vendor != "postgresql":
        SyncJob.objects.filter(pk__any=[job.pk for job in jobs]).update(
            next_attempt_at=until,
            cause=Concat(
                Value("Waiting for "), "depends_on_entity", Value(" "), "depends_on_source_id", Value(" to reach Xero.")
            ),
        )
        return
    # The same UPDATE as one plain statement (a pass moves jobs aside often): compiling it cost more than its work.
    table = SyncJob._meta.db_table
    # Only the table's name is formatted in; everything else is a parameter.
    sql = f"""
        UPDATE "{table}" SET next_attempt_at = %s,
            cause = 'Waiting for ' || depends_on_entity || ' ' || depends_on_source_id || ' to reach Xero.'
        WHERE tenant_id = %s AND id = ANY(%s::bigint[])
    """  # noqa: S608
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, (until, jobs[0].tenant_id, [job.pk for job in jobs]))


def cross_reference_ids(tenant_id: int, source_connection_ids, entity: str, source_ids) -> list[tuple[str, str]]:
    """(source id, Xero id) of each of the cross-references cross_references reads: two columns, not a model
    instance (a batch of 50 payments reads 50 of them), by one plain statement for the same reason."""
    if transaction.get_connection().vendor != "postgresql":
        return list(
            CrossReference.objects.filter(
                source_connection_id__in=set(source_connection_ids), entity=entity, source_id__any=list(source_ids)
            ).values_list("source_id", "xero_id")
        )
    table = CrossReference._meta.db_table
    # Only the table's name is formatted in; every value is a parameter.
    sql = (
        f'SELECT source_id, xero_id FROM "{table}" WHERE tenant_id = %s'  # noqa: S608
        " AND source_connection_id = ANY(%s::bigint[]) AND entity = %s AND source_id = ANY(%s::varchar[])"
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, (tenant_id, list(set(source_connection_ids)), entity, list(set(source_ids))))
        return cursor.fetchall()


def _xref_map(jobs: list[SyncJob], entity: str, source_ids) -> dict[str, CrossReference]:
    found = cross_references(jobs[0].tenant_id, {j.source_connection_id for j in jobs}, entity, source_ids)
    return {x.source_id: x for x in found}


def _prepare_batch(
    client, xero_connection, jobs: list[SyncJob], report: DrainReport, payload_builder
) -> tuple[list[SyncJob], bool]:
    """Build a batch's payloads and settle what must be known before it is sent: a payload the mappings cannot
    build holds its job for attention, a new contact already in Xero is pointed at it, an item takes Xero's prices,
    and a record whose last answer was lost and that Xero has is recorded as matched. Returns (the jobs to send,
    whether the drain should stop); nothing is marked running here."""
    own = _xref_map(jobs, jobs[0].entity, [j.source_id for j in jobs])
    built = payload_builder(jobs, own_xrefs=own, xero_connection=xero_connection)
    sendable, unchanged = [], []
    for job, result in zip(jobs, built, strict=True):
        if result.problems:
            cause = "; ".join(p.cause for p in result.problems)
            failures.job_needs_attention(job=job, code=result.problems[0].code, cause=cause)
            report.needs_attention += 1
            continue
        # The JSON form is what is sent, kept for operators and hashed into the batch key. Its amounts pass
        # through float, which writes back the same digits for up to 15 significant ones: every quantised
        # amount (2 or 4 places) short of a hundred billion.
        job.payload = _jsonable(result.payload)
        applied = own.get(job.source_id) if job.entity in lost_applications.ENTITIES else None
        if applied is None:
            sendable.append(job)
        elif applied.payload_hash == _hash(job.payload):
            # A newer version of a payment (or allocation) that changes nothing Xero holds: nothing to send.
            unchanged.append((job, applied.xero_id, {}))
        else:
            # Sent again it would be a second payment: Xero creates payments and allocations, never edits them.
            failures.job_needs_attention(job=job, code="applied_already", cause=_applied_already(job, applied))
            report.needs_attention += 1
    if unchanged:
        with transaction.atomic():
            _record_successes(unchanged, timezone.now(), AuditEntry.Outcome.MATCHED)
        report.matched += len(unchanged)
    if not sendable:
        return [], False

    entity = sendable[0].entity
    try:
        if entity == "contact":
            # A customer new to us may already be in Xero: update that contact rather than duplicate it.
            contacts_link_existing(client, sendable, xero_connection=xero_connection)
        elif entity == "item" and item_prices_settle(client, sendable, own_xrefs=own):
            # Xero kept its own prices: its exact amounts now stand in those payloads.
            for job in sendable:
                job.payload = _jsonable(job.payload)
        return _match_lost_responses(client, sendable, entity, report), False
    except (RetryableError, ProviderAuthError, RequestError) as exc:
        return [], _refused(exc, xero_connection, sendable, report)


def _applied_already(job: SyncJob, applied: CrossReference) -> str:
    what = "payment" if job.entity == "payment" else "credit allocation"
    return (
        f"The {what} of {job.source_id} changed in the source after it was applied in Xero ({applied.xero_id}). "
        f"Xero cannot edit a {what}, so the change was not sent: if it matters, delete the {what} in Xero and "
        "record it there again as it now is, then discard this job."
    )


def _mark_running(jobs: list[SyncJob]) -> list[SyncJob]:
    """Claim a prepared batch: mark running, and return, the jobs still as they were prepared (pending, with the
    same attempts). A drain that paused past its lease may find that another drain, on another host, has taken the
    connection and sent or retried some of them meanwhile: sent again, Xero would apply them twice. A worker that
    dies with the batch leaves it to the sweeper once the lease is over."""
    prepared = {job.pk: job.attempts for job in jobs}
    if transaction.get_connection().vendor == "postgresql":
        claimed_ids = _claim(jobs[0].tenant_id, prepared)
        return [job for job in jobs if job.pk in claimed_ids]
    with transaction.atomic():
        still = dict(
            SyncJob.objects.select_for_update(skip_locked=True)
            .filter(pk__any=prepared, state=State.PENDING)
            .values_list("pk", "attempts")
        )
        claimed = [job for job in jobs if still.get(job.pk) == job.attempts]
        SyncJob.objects.filter(pk__any=[job.pk for job in claimed]).update(
            state=State.RUNNING, lease_expires_at=timezone.now() + _lease()
        )
    return claimed


def _claim(tenant_id: int, prepared: dict[int, int]) -> set[int]:
    """_mark_running in one statement: the jobs still pending with the attempts they were prepared with (skipping
    any another transaction holds) are marked running, and their ids returned; no transaction of its own to begin
    and commit, nor a statement to compile for each batch."""
    table = SyncJob._meta.db_table
    # Only the table's name is formatted in; everything else is a parameter.
    sql = f"""
        WITH claimable AS (
            SELECT j.id FROM "{table}" j
            JOIN unnest(%s::bigint[], %s::int[]) AS prepared(id, attempts)
              ON j.id = prepared.id AND j.attempts = prepared.attempts
            WHERE j.tenant_id = %s AND j.state = %s
            FOR UPDATE OF j SKIP LOCKED
        )
        UPDATE "{table}" SET state = %s, lease_expires_at = %s
        FROM claimable WHERE "{table}".id = claimable.id
        RETURNING "{table}".id
    """  # noqa: S608
    params = (
        list(prepared),
        list(prepared.values()),
        tenant_id,
        State.PENDING,
        State.RUNNING,
        timezone.now() + _lease(),
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _send_batch(client, xero_connection, sendable: list[SyncJob], report: DrainReport) -> bool:
    """Send one prepared batch (its jobs marked running) and record each element's outcome: the cross-reference,
    audit entry and state of each success, attention for each refusal. Returns True when the drain should stop
    (throttled, auth, outage)."""
    operation, entity = sendable[0].operation, sendable[0].entity
    # Each payload is encoded once here: its hash goes into the batch key and the cross-reference, its text into
    # the audit entry.
    encoded = {j.pk: jsonexact.dumps(j.payload) for j in sendable}
    key = hashlib.sha256("|".join(j.idempotency_key + _text_hash(encoded[j.pk]) for j in sendable).encode()).hexdigest()
    try:
        results = accounting.save_batch(client, entity, [j.payload for j in sendable], idempotency_key=key)
    except (RetryableError, ProviderAuthError, RequestError) as exc:
        return _refused(exc, xero_connection, sendable, report)

    now = timezone.now()
    with transaction.atomic():
        succeeded = [(j, r.xero_id, r.record) for j, r in zip(sendable, results, strict=True) if r.ok]
        _record_successes(succeeded, now, AuditEntry.Outcome.CREATED, encoded=encoded)
        if entity == "item" and succeeded:
            xero_reference_items_merge(connection=xero_connection, items=[_jsonable(r) for _, _, r in succeeded])
        report.done += len(succeeded)
        name_taken = []
        for job, result in zip(sendable, results, strict=True):
            if result.ok:
                continue
            elif job.entity == "contact" and job.error_code != NAME_TAKEN and _name_taken(result.errors):
                name_taken.append(job.pk)
            else:
                failures.job_needs_attention(
                    job=job,
                    code="xero_validation",
                    cause=refusal_cause(job, result.errors)
                    or "Xero refused it: " + "; ".join(result.errors or ("no reason given",)),
                    response=_jsonable(result.record),
                )
                report.needs_attention += 1
        if name_taken:
            # Another contact holds the name (two customers called Jane Doe): send again, disambiguated (the
            # payload is rebuilt then).
            SyncJob.objects.filter(pk__any=name_taken).update(
                state=State.PENDING, error_code=NAME_TAKEN, next_attempt_at=now
            )
        _wake_dependants(
            xero_connection.tenant_id,
            xero_connection.pk,
            entity,
            [j.source_id for j in sendable if j.state == State.DONE],
            now,
        )
    report.sent += len(sendable)
    report.by_operation[operation] = report.by_operation.get(operation, 0) + len(sendable)
    report.requests_by_operation[operation] = report.requests_by_operation.get(operation, 0) + 1
    return False


def _refused(exc: Exception, xero_connection, jobs: list[SyncJob], report: DrainReport) -> bool:
    """What Xero's refusal of a call for these jobs means for them (sync.services.failures); True when the drain
    should stop (throttled, auth, an outage that named its wait)."""
    if isinstance(exc, RetryableError):
        # Whether an attempt is spent is the error's to say (exc.maybe_applied): a 429 that ended a request whose
        # earlier attempt timed out spends one too, since the next batch may be made up differently, under another
        # Idempotency-Key, and Xero would take the same payments twice.
        throttled = exc.code in THROTTLE_CODES
        with transaction.atomic():
            for job in jobs:
                failures.job_retry_later(job=job, error=exc)
                if job.state == State.DEAD:
                    report.dead += 1
        report.retrying += len(jobs)
        return throttled or exc.retry_after is not None
    if isinstance(exc, ProviderAuthError):
        connection_mark_needs_reauth(connection=xero_connection, reason=exc.message)
        for job in jobs:
            failures.job_wait_for_auth(job=job)
        return True
    for job in jobs:
        failures.job_needs_attention(job=job, code=exc.code, cause=f"Xero refused the request: {exc.message}")
    report.needs_attention += len(jobs)
    return False


def _wake_dependants(tenant_id: int, xero_connection_id: int, entity: str, source_ids: list[str], now) -> None:
    """Jobs that were told to wait for these records can go now (a payment whose invoice just arrived)."""
    if not source_ids:
        return
    if transaction.get_connection().vendor != "postgresql":
        SyncJob.objects.filter(
            xero_connection_id=xero_connection_id,
            state=State.PENDING,
            depends_on_entity=entity,
            depends_on_source_id__any=source_ids,
            next_attempt_at__gt=now,
        ).update(next_attempt_at=now, cause="")
        return
    # The same UPDATE as one plain statement, run after every batch: compiling it as a query cost more than its
    # work in PostgreSQL (the dependency index, sync_job_dependency, finds the few rows).
    table = SyncJob._meta.db_table
    # Only the table's name is formatted in; everything else is a parameter.
    sql = f"""
        UPDATE "{table}" SET next_attempt_at = %s, cause = ''
        WHERE tenant_id = %s AND depends_on_entity = %s AND depends_on_source_id = ANY(%s::varchar[])
          AND xero_connection_id = %s AND state = %s AND next_attempt_at > %s
    """  # noqa: S608
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, (now, tenant_id, entity, list(source_ids), xero_connection_id, State.PENDING, now))


def _name_taken(errors) -> bool:
    return any("contact name" in e.lower() and "already assigned" in e.lower() for e in errors)


def _match_lost_responses(client, jobs: list[SyncJob], entity: str, report: DrainReport) -> list[SyncJob]:
    """Jobs retried after an attempt that may have been applied: find them in Xero by natural key first (payments
    and allocations, which have none, on the document they were applied to)."""
    field_name = NATURAL_KEYS.get(entity)
    if entity in lost_applications.ENTITIES:
        matched = lost_applications.lost_applications_find(client, jobs, entity=entity)
        if not matched:
            return jobs
        found_ids = {job.pk for job, _, _ in matched}
        remaining = [job for job in jobs if job.pk not in found_ids]
    else:
        suspects = [j for j in jobs if j.attempts > 0 and field_name and (j.payload or {}).get(field_name)]
        if not suspects:
            return jobs
        found = accounting.find_by(client, entity, field_name, [j.payload[field_name] for j in suspects])
        if not found:
            return jobs
        _, _, id_field = accounting.COLLECTIONS[entity]
        remaining, matched = [], []
        for job in jobs:
            record = found.get((job.payload or {}).get(field_name)) if job in suspects else None
            if record is None:
                remaining.append(job)
            else:
                matched.append((job, str(record[id_field]), record))
    now = timezone.now()
    with transaction.atomic():
        _record_successes(matched, now, AuditEntry.Outcome.MATCHED)
        if matched:
            first = matched[0][0]
            _wake_dependants(
                first.tenant_id, first.xero_connection_id, entity, [job.source_id for job, _, _ in matched], now
            )
    report.matched += len(matched)
    return remaining


def _record_success(job: SyncJob, xero_id: str, record: dict, now, outcome: str) -> None:
    """Record one job's success (the per-record path)."""
    _record_successes([(job, xero_id, record)], now, outcome)


# The columns of the rows _record_successes adds, in the order of its tuples.
NEW_XREF_COLUMNS = (
    "created_at",
    "updated_at",
    "tenant_id",
    "source_connection_id",
    "entity",
    "source_id",
    "xero_id",
    "xero_number",
    "source_version",
    "payload_hash",
    "synced_values",
    "synced_at",
)
AUDIT_COLUMNS = (
    "created_at",
    "updated_at",
    "tenant_id",
    "job_id",
    "entity",
    "source_id",
    "xero_id",
    "operation",
    "outcome",
    "detail",
    "request",
    "response",
)


def _record_successes(
    done: list[tuple[SyncJob, str, dict]], now, outcome: str, *, encoded: dict[int, str] | None = None
) -> None:
    """Record a batch's successes in a few statements: cross-references, the jobs' state, the audit entries.

    `encoded` holds each job's payload as already encoded for sending (by job id), where the caller has it.
    """
    if not done:
        return
    encoded = encoded or {}
    first = done[0][0]
    existing = {
        (x.source_connection_id, x.source_id): x
        for x in cross_references(
            first.tenant_id,
            {job.source_connection_id for job, _, _ in done},
            first.entity,
            [job.source_id for job, _, _ in done],
        )
    }
    new_xrefs, changed_xrefs, audits = [], [], []
    for job, xero_id, record in done:
        number = str(record.get("InvoiceNumber") or record.get("ContactNumber") or record.get("Code") or "")[:100]
        payload_text = encoded.get(job.pk) or jsonexact.dumps(job.payload)
        values = {
            "xero_id": xero_id,
            "xero_number": number,
            "source_version": job.source_version,
            "payload_hash": _text_hash(payload_text),
            "synced_at": now,
        }
        xref = existing.get((job.source_connection_id, job.source_id))
        if job.entity == "contact":
            # What each side now holds, so a later change on either side is told from an echo of this one.
            values["synced_values"] = synced_values_after_send(
                previous=xref.synced_values if xref else None, payload=job.payload, contact=canonical_record(job)
            )
        elif job.entity == "item":
            values["synced_values"] = item_synced_values(payload=job.payload, product=canonical_record(job))
        if xref is None:
            new_xrefs.append(
                (
                    now,
                    now,
                    job.tenant_id,
                    job.source_connection_id,
                    job.entity,
                    job.source_id,
                    xero_id,
                    number,
                    job.source_version,
                    values["payload_hash"],
                    values.get("synced_values", {}),
                    now,
                )
            )
        else:
            for field_name, value in values.items():
                setattr(xref, field_name, value)
            changed_xrefs.append(xref)
        job.state = State.DONE
        job.xero_id = xero_id
        job.finished_at = now
        job.lease_expires_at = None
        job.cause = ""
        job.error_code = ""
        job.response = None
        audit_outcome = AuditEntry.Outcome.UPDATED if outcome == AuditEntry.Outcome.CREATED and xref else outcome
        audits.append(
            (
                now,
                now,
                job.tenant_id,
                job.pk,
                job.entity,
                job.source_id,
                xero_id,
                job.operation,
                audit_outcome,
                "",
                # Stored as encoded (core.bulk.JsonText), not encoded again: the payload as sent, and Xero's
                # answer as _jsonable would store it.
                bulk.JsonText(payload_text) if job.payload is not None else None,
                bulk.JsonText(_jsonable_text(record)),
            )
        )
    # One COPY or UPDATE … FROM (VALUES …) per table (core.bulk): the ORM's bulk methods cost more in Python than
    # the database's work. The new rows go as tuples (bulk.values_insert): a model instance built for each only to
    # be stored cost more than its COPY. Neither the new cross-references' nor the audit entries' keys are read back.
    bulk.values_insert(CrossReference, NEW_XREF_COLUMNS, new_xrefs)
    bulk.rows_update(
        CrossReference,
        changed_xrefs,
        ("xero_id", "xero_number", "source_version", "payload_hash", "synced_values", "synced_at"),
    )
    bulk.values_insert(AuditEntry, AUDIT_COLUMNS, audits)
    # The payload sent and Xero's answer are kept once, on the audit entry (a job that fails keeps its payload, for
    # operators).
    for job, _, _ in done:
        job.payload = None
    _mark_done([job for job, _, _ in done], now)


def _mark_done(jobs: list[SyncJob], now) -> None:
    """Mark recorded jobs done, with their Xero ids: one statement joined on the primary key (core.bulk), each job
    row rewritten once (with its indexes). Only the Xero id differs from job to job; the rest is sent once."""
    same = {
        "state": State.DONE,
        "finished_at": now,
        "lease_expires_at": None,
        "cause": "",
        "error_code": "",
        "payload": None,
        "response": None,
    }
    bulk.rows_update(SyncJob, jobs, ("xero_id",), same=same)


def _hash(payload) -> str:
    return _text_hash(jsonexact.dumps(payload))


def _text_hash(encoded: str) -> str:
    return hashlib.sha256(encoded.encode()).hexdigest()


# What orjson writes as json would: plain JSON data. A subclass (a str enum), a date or a dataclass goes to
# _loaded_decimal, which leaves it to json's own rules.
_PLAIN_JSON = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _jsonable(record: dict | None):
    """For storage in JSON columns: exact numbers stay exact in PostgreSQL's jsonb. Every payload of every batch
    passes through here.

    The value of core.jsonexact's text read back, made by orjson in two passes in C: encoding with json (each
    Decimal marked, then its literal put in) cost several times more. A Decimal becomes what its literal reads back
    as (_as_loaded); what orjson cannot write (an integer beyond 64 bits, a key that is not a string, a lone
    surrogate, anything that is not plain JSON data or a Decimal) goes through jsonexact and core.jsonfast as
    before, which answer it or raise as they did. orjson writes a NaN float as null where that reading refuses it:
    a payload holds none (its amounts are quantised Decimals, core.money refuses NaN), as in canonical.to_json.
    """
    if record is None:
        return None
    try:
        return orjson.loads(orjson.dumps(record, default=_loaded_decimal, option=_PLAIN_JSON))
    except orjson.JSONEncodeError:
        return jsonfast.loads(jsonexact.dumps(record).encode())


def _loaded_decimal(value):
    if isinstance(value, Decimal):
        return _as_loaded(value)
    raise TypeError(type(value).__name__)


def _as_loaded(value: Decimal):
    """A Decimal as _jsonable leaves it: its exact literal read back by json (an int without a fraction, else the
    float nearest to it, which float() of the Decimal is too)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    return int(value) if value.as_tuple().exponent >= 0 else float(value)


def _jsonable_text(record: dict) -> str:
    """The JSON text of _jsonable(record), encoded once rather than encoded, decoded and encoded again.

    By orjson, several times faster than json for a batch's answers: the text may differ from json's (a float's
    exponent, characters beyond ASCII unescaped), the value stored in the audit entry's jsonb does not. Xero's
    answer holds no float (core.jsonexact reads its fractions as Decimals and refuses NaN), so orjson's one silent
    change, a NaN written as null, cannot happen. What orjson cannot write (an integer beyond 64 bits, a NaN
    Decimal) goes to json, which writes it or raises as before.
    """
    try:
        return orjson.dumps(record, default=_as_loaded).decode()
    except orjson.JSONEncodeError:
        return json.dumps(record, default=_as_loaded, separators=(",", ":"))


def canonical_record(job: SyncJob):
    """The job's canonical record, rebuilt from its JSON form."""
    document = record_document(job)
    return from_json(document["entity"], document["data"])
