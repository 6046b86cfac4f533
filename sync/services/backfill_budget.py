"""A backfill's share of the day's Xero budget, and its progress with an ETA from that budget.

The drain asks backfill_budget_allows before it sends a batch of backfill jobs; the UI, the API and the backfill
command show backfill_progress.
"""

import math
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from connections.models import Connection, ConnectionDailyUsage
from connections.providers.registry import provider_get
from connections.providers.xero import accounting
from core.errors import ApplicationError
from sync.models import Backfill, SyncJob
from sync.services.staging import xero_connection_of

DEFAULT_BUDGET_SHARE = Decimal("0.50")
Status = Backfill.Status
State = SyncJob.State


def _share_of(xero_connection: Connection) -> Decimal:
    share = (
        Backfill.objects.filter(tenant_id=xero_connection.tenant_id, dry_run=False)
        .exclude(status__in=(Status.DONE, Status.CANCELLED))
        .order_by("-id")
        .values_list("budget_share", flat=True)
        .first()
    )
    return share or DEFAULT_BUDGET_SHARE


def _day_limit(xero_connection: Connection) -> int:
    return provider_get(xero_connection.provider).rate_limits.calls_per_day or 5000


def _calls_today(xero_connection: Connection, now=None) -> int:
    day = (now or timezone.now()).date()
    usage = ConnectionDailyUsage.objects.filter(connection=xero_connection, day=day).values_list("calls", flat=True)
    return next(iter(usage), 0)


def backfill_budget_allows(*, xero_connection: Connection) -> bool:
    """May the drain spend a call on backfill jobs now? Only while today's calls (live ones included) are below
    share × the day limit: the rest of the day is kept for live sync.

    That never lets a backfill spend more than share × the budget remaining when it resumes: with u calls made,
    it may spend at most share × limit − u ≤ share × (limit − u).
    """
    share = _share_of(xero_connection)
    return _calls_today(xero_connection) < share * _day_limit(xero_connection)


def backfill_progress(*, backfill: Backfill, now=None) -> dict:
    """Progress as shown in the UI, the API and the command: done/total and an ETA from the Xero budget.

    The ETA counts the Xero requests the open jobs need (one per 50 of the same operation), spends today's
    remaining backfill allowance (share × day limit − calls made today) at the minute rate, then share × day limit
    per following UTC day. A dry run reports no ETA.
    """
    now = now or timezone.now()
    percent = (
        round(100 * backfill.done / backfill.total, 1) if backfill.total else (100.0 if backfill.finished_at else 0.0)
    )
    progress = {
        "id": backfill.pk,
        "status": backfill.status,
        "dry_run": backfill.dry_run,
        "since": backfill.since.isoformat(),
        "entities": backfill.entities,
        "budget_share": str(backfill.budget_share),
        "total": backfill.total,
        "done": backfill.done,
        "percent": percent,
        "created": backfill.created,
        "matched": backfill.matched,
        "blocked": backfill.blocked,
        "unchanged": backfill.unchanged,
        "xero_requests_needed": 0,
        "eta_seconds": None,
        "eta_at": None,
        "error": backfill.error,
        "started_at": backfill.started_at.isoformat() if backfill.started_at else None,
        "finished_at": backfill.finished_at.isoformat() if backfill.finished_at else None,
    }
    if backfill.dry_run or backfill.status not in (Status.RUNNING, Status.PLANNED):
        return progress
    open_by_operation = (
        SyncJob.objects.filter(backfill=backfill, state__in=(State.PENDING, State.RUNNING))
        .values_list("operation")
        .annotate(n=Count("id"))
        .values_list("operation", "n")
    )
    needed = sum(math.ceil(n / accounting.BATCH_SIZE) for _, n in open_by_operation)
    progress["xero_requests_needed"] = needed
    try:
        xero = xero_connection_of(tenant_id=backfill.tenant_id)
    except ApplicationError:
        return progress  # no Xero connection: no estimate
    seconds = _eta_seconds(xero, backfill.budget_share, needed, now)
    progress["eta_seconds"] = seconds
    progress["eta_at"] = (now + timedelta(seconds=seconds)).isoformat()
    return progress


def _eta_seconds(xero: Connection, share: Decimal, needed: int, now) -> int:
    limits = provider_get(xero.provider).rate_limits
    per_call = (limits.per_seconds / limits.calls) if limits.calls else 1.0
    per_day = max(1, int(share * _day_limit(xero)))
    today = max(0, per_day - _calls_today(xero, now))
    if needed <= today:
        return math.ceil(needed * per_call)
    midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
    later = needed - today
    full_days = (later - 1) // per_day
    return math.ceil((midnight - now).total_seconds() + full_days * 86400 + (later - full_days * per_day) * per_call)
