"""reconciliation_run: one comparison of a tenant's sources with its Xero organisation for a period.

The run row is created first (status running) so people see it; the sources and Xero are read outside any
transaction (the rate limiter's slots must be visible to other workers); the mismatches and the summary are then
written in one transaction, so a run is either done with all its findings or failed with none.
"""

import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from connections.models import Connection
from connections.providers.xero.tokens import xero_client_for
from connections.sources import source_adapter
from core.errors import ApplicationError
from mappings.cache import mapping_cache
from mappings.results import reference
from mappings.rules import MappingSet
from reconciliation.models import Mismatch, ReconciliationRun
from reconciliation.selectors import policy_get
from reconciliation.services import compare, xero_side
from reconciliation.services.source_side import source_read
from sync.models import CrossReference
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)
SAVE_CHUNK = 1000
LOOKUP_CHUNK = 5000


def reconciliation_run(
    *,
    tenant,
    period_start: date,
    period_end: date,
    trigger: str,
    requested_by=None,
    transport=None,
    rate_limiter: bool = True,
) -> ReconciliationRun:
    """Compare the tenant's sources with Xero for the period (tenant-local dates, inclusive) and store the result.

    Returns the run: done, with its mismatches, per-entity summary and Xero call count, or failed with a plain
    error. Raises ApplicationError only when no run can be recorded (a reversed period, no Xero connection).
    `transport` reaches the sandbox in tests and benchmarks.
    """
    if period_end < period_start:
        raise ApplicationError("The period ends before it starts.", code="invalid_period")
    with tenant_scope(tenant):
        xero = Connection.objects.filter(provider="xero").exclude(status=Connection.Status.DISCONNECTED).first()
        if xero is None:
            raise ApplicationError("This tenant has no Xero connection to reconcile with.", code="no_xero_connection")
        run = ReconciliationRun.objects.create(
            tenant=tenant,
            xero_connection=xero,
            trigger=trigger,
            requested_by=requested_by,
            period_start=period_start,
            period_end=period_end,
            started_at=timezone.now(),
        )
    return reconciliation_run_execute(run=run, transport=transport, rate_limiter=rate_limiter)


def reconciliation_run_execute(*, run: ReconciliationRun, transport=None, rate_limiter: bool = True):
    """Carry out a recorded run: a pending one (queued by a request) or one just created as running.

    A pending run is claimed first, so a task delivered twice compares once; a run that already finished is
    returned as it is. Ends done with its findings, or failed with a plain error.
    """
    with tenant_scope(run.tenant):
        if run.status == ReconciliationRun.Status.PENDING:
            now = timezone.now()
            claimed = ReconciliationRun.objects.filter(pk=run.pk, status=ReconciliationRun.Status.PENDING).update(
                status=ReconciliationRun.Status.RUNNING, started_at=now, updated_at=now
            )
            run.refresh_from_db()
            if not claimed:
                return run
        elif run.status != ReconciliationRun.Status.RUNNING:
            return run
        xero = Connection.objects.get(pk=run.xero_connection_id)
        client = None
        try:
            if xero.status != Connection.Status.ACTIVE:
                raise ApplicationError(
                    f"Xero is not connected (the connection's status is “{xero.get_status_display()}”): "
                    "reconnect it on the Connections page, then run again.",
                    code="xero_not_active",
                )
            client = xero_client_for(xero, transport=transport, rate_limiter=rate_limiter)
            with client, mapping_cache():
                findings = _compare(run, xero=xero, client=client, transport=transport)
        except ApplicationError as exc:
            _fail(run, str(exc), calls=client.calls if client else 0)
        except Exception:
            logger.exception("reconciliation run %s failed", run.pk)
            _fail(
                run, "The run stopped on an unexpected error; it has been logged.", calls=client.calls if client else 0
            )
        else:
            _save(run, findings, calls=client.calls)
    return run


def _fail(run: ReconciliationRun, message: str, *, calls: int) -> None:
    run.status = ReconciliationRun.Status.FAILED
    run.error = message[:500]
    run.finished_at = timezone.now()
    run.xero_calls = calls
    run.save(update_fields=["status", "error", "finished_at", "xero_calls", "updated_at"])


def _save(run: ReconciliationRun, findings: compare.Findings, *, calls: int) -> None:
    with transaction.atomic():
        for start in range(0, len(findings.items), SAVE_CHUNK):
            Mismatch.objects.bulk_create(
                [
                    Mismatch(tenant_id=run.tenant_id, run=run, **item)
                    for item in findings.items[start : start + SAVE_CHUNK]
                ]
            )
        run.status = ReconciliationRun.Status.DONE
        run.finished_at = timezone.now()
        run.summary = {entity: tally.as_json() for entity, tally in sorted(findings.tallies.items())}
        run.mismatch_count = len(findings.items)
        run.xero_calls = calls
        run.save(update_fields=["status", "finished_at", "summary", "mismatch_count", "xero_calls", "updated_at"])


def _period_start_utc(day: date, timezone_name: str) -> datetime:
    try:
        zone = ZoneInfo(timezone_name or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _xrefs(entity: str, keys) -> dict[tuple[int, str], compare.XRef]:
    """The cross-references of `entity` for (source connection id, source id) keys, read in chunks."""
    by_connection = defaultdict(set)
    for connection_id, source_id in keys:
        if source_id:
            by_connection[connection_id].add(source_id)
    found = {}
    for connection_id, ids in by_connection.items():
        ids = sorted(ids)
        for start in range(0, len(ids), LOOKUP_CHUNK):
            rows = CrossReference.objects.filter(
                source_connection_id=connection_id, entity=entity, source_id__in=ids[start : start + LOOKUP_CHUNK]
            ).values_list("source_id", "xero_id", "synced_at")
            for source_id, xero_id, synced_at in rows:
                found[(connection_id, source_id)] = compare.XRef(xero_id, synced_at)
    return found


def _compare(run: ReconciliationRun, *, xero: Connection, client, transport) -> compare.Findings:
    tenant = run.tenant
    include_items = policy_get(tenant=tenant).include_items
    since = _period_start_utc(run.period_start, tenant.timezone)
    ref, _ = reference(xero)
    xero_base = ref.organisation.get("BaseCurrency") or tenant.base_currency

    sides = []
    for connection in Connection.objects.exclude(provider="xero").filter(status=Connection.Status.ACTIVE):
        try:
            adapter = source_adapter(connection, transport=transport)
        except ApplicationError as exc:
            if exc.code != "no_source_adapter":
                raise
            # Partner systems push to us; there is no source to read back, so their records are not compared.
            continue
        with adapter:
            sides.append(
                source_read(
                    adapter=adapter,
                    source_connection=connection,
                    period_start=run.period_start,
                    period_end=run.period_end,
                    since=since,
                    timezone_name=tenant.timezone,
                    xero_base=xero_base,
                    include_items=include_items,
                )
            )
    connections = {side.connection.pk: side.connection for side in sides}
    rounding_accounts = frozenset(
        code for side in sides if (code := MappingSet.load(side.connection).posting.rounding_account_code)
    )

    # A document dated in the period was entered no earlier than a day before the period began (the day allows for
    # time zones), so Xero can leave out everything untouched since then.
    modified_since = since - timedelta(days=1)
    period = {"period_start": run.period_start, "period_end": run.period_end, "modified_since": modified_since}
    xero_invoices = list(xero_side.invoices_read(client, **period, rounding_accounts=rounding_accounts))
    xero_credit_notes = list(xero_side.credit_notes_read(client, **period, rounding_accounts=rounding_accounts))
    xero_payments = list(xero_side.payments_read(client, **period))
    xero_contacts = list(xero_side.contacts_read(client))
    xero_items = list(xero_side.items_read(client)) if include_items else []

    orders = [order for side in sides for order in side.invoices]
    contacts = [contact for side in sides for contact in side.contacts.values()]
    all_payments = [payment for side in sides for payment in side.payments]
    payments = [p for p in all_payments if run.period_start <= p.date <= run.period_end]
    refunds = [refund for side in sides for refund in side.refunds]
    paid = defaultdict(lambda: compare.ZERO)
    for payment in all_payments:
        paid[(payment.source_connection_id, payment.order_id)] += payment.amount

    findings = compare.Findings()
    contact_xrefs = _xrefs("contact", ((c.source_connection_id, c.source_id) for c in contacts))
    compare.contacts_compare(
        findings, sources=contacts, xero=xero_contacts, xrefs=contact_xrefs, connections=connections
    )
    del xero_contacts
    invoice_xrefs = _xrefs(
        "invoice",
        [(o.source_connection_id, o.source_id) for o in orders]
        + [(p.source_connection_id, p.order_id) for p in payments],
    )
    claimed = compare.invoices_compare(
        findings, sources=orders, xero=xero_invoices, xrefs=invoice_xrefs, contact_xrefs=contact_xrefs, paid=paid
    )
    del xero_invoices
    compare.credit_notes_compare(
        findings,
        sources=refunds,
        xero=xero_credit_notes,
        xrefs=_xrefs("credit_note", ((r.source_connection_id, r.source_id) for r in refunds)),
    )
    compare.payments_compare(
        findings,
        sources=payments,
        xero=xero_payments,
        xrefs=_xrefs("payment", ((p.source_connection_id, p.source_id) for p in payments)),
        invoice_xrefs=invoice_xrefs,
        ours=claimed | {x.xero_id for x in invoice_xrefs.values()},
    )
    if include_items:
        products = [item for side in sides for item in side.items]
        compare.items_compare(
            findings,
            sources=products,
            xero=xero_items,
            xrefs=_xrefs("item", ((p.source_connection_id, p.source_id) for p in products)),
        )
    return findings
