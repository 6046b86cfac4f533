"""A per-connection rate limiter shared by every worker, kept in PostgreSQL (no Redis).

Each granted call is a row in ConnectionCallSlot. Granting happens in a short transaction holding a
transaction-level advisory lock for the connection, so two workers never both see room for one more call:
- rate: fewer than `calls` slots started within the rolling `per_seconds` window;
- concurrency: fewer than `max_in_flight` slots unfinished and still leased (a dead worker's lease runs out);
- budget: not before `blocked_until` (a 429's Retry-After) nor `day_limit_reset_at` (the day quota is spent).

A short wait (≤ max_wait, ~2 s) is slept in place; a longer one raises RetryableError(retry_after=…) so the
caller reschedules instead of holding a worker.

Call clients outside `transaction.atomic()`: a slot inserted inside an outer transaction stays invisible to other
workers until that transaction commits, and the limit would no longer be shared.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections.models import Connection, ConnectionCallSlot
from connections.providers.base import RateLimits
from core.errors import RetryableError
from tenants.scoping import tenant_scope

logger = logging.getLogger("connections.ratelimit")

# First key of pg_advisory_xact_lock(int, int): keeps our locks apart from other advisory-lock users
# (the Xero token refresh locks the row itself).
ADVISORY_NAMESPACE = 0x4C42_5254  # "LBRT"


@dataclass(frozen=True)
class Budget:
    """Remaining calls as the remote reported them (Xero: X-MinLimit-Remaining, X-DayLimit-Remaining)."""

    minute_remaining: int | None = None
    day_remaining: int | None = None


@dataclass(frozen=True)
class Slot:
    id: int
    started_at: datetime


class RateLimiter:
    """Grants external calls for one connection within its provider's limits.

    `clock` returns aware UTC datetimes (hosts are NTP-synchronised); `sleep` and `clock` are injectable so tests
    need neither long sleeps nor real minutes.
    """

    def __init__(
        self,
        *,
        connection_id: int,
        tenant_id: int,
        limits: RateLimits,
        clock: Callable[[], datetime] = timezone.now,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float | None = None,
        lease_seconds: float | None = None,
        poll_interval: float = 0.05,
    ):
        self.connection_id = connection_id
        self.tenant_id = tenant_id
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self.max_wait = settings.CONNECTIONS_RATE_MAX_WAIT_SECONDS if max_wait is None else max_wait
        self.lease = timedelta(
            seconds=settings.CONNECTIONS_RATE_LEASE_SECONDS if lease_seconds is None else lease_seconds
        )
        self.poll_interval = poll_interval

    @classmethod
    def for_connection(cls, connection: Connection, *, limits: RateLimits | None = None, **kwargs) -> "RateLimiter":
        """The limiter for `connection` with its provider's declared limits."""
        if limits is None:
            from connections.providers.registry import provider_get

            limits = provider_get(connection.provider).rate_limits
        return cls(connection_id=connection.pk, tenant_id=connection.tenant_id, limits=limits, **kwargs)

    # Granting ----------------------------------------------------------------------------------------------

    def acquire(self) -> Slot:
        """Wait for room and take a slot; raise RetryableError when the wait would exceed `max_wait`."""
        deadline = self.clock() + timedelta(seconds=self.max_wait)
        while True:
            granted, wait, reason = self._try_acquire()
            if granted is not None:
                return granted
            left = (deadline - self.clock()).total_seconds()
            if wait > left:
                raise RetryableError(
                    f"Connection {self.connection_id} is at its {reason}; try again in {wait:.0f} s.",
                    code="rate_limited",
                    retry_after=round(wait, 3),
                    maybe_applied=False,
                    extra={"connection_id": self.connection_id, "reason": reason},
                )
            self.sleep(max(wait, 0.001))

    def release(self, slot: Slot) -> None:
        """End a call: its slot stops counting as in flight (it still counts in the rolling window)."""
        with tenant_scope(self.tenant_id):
            ConnectionCallSlot.objects.filter(tenant_id=self.tenant_id, pk=slot.id).update(finished_at=self.clock())

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """`with limiter.slot(): call()` — acquire, and release in finally."""
        granted = self.acquire()
        try:
            yield granted
        finally:
            self.release(granted)

    def _lock(self) -> None:
        if db_connection.vendor == "postgresql":
            with db_connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_NAMESPACE, self.connection_id % 2_147_483_647]
                )
        # SQLite: transactions begin IMMEDIATE (see settings), which already serialises writers.

    def _try_acquire(self) -> tuple[Slot | None, float, str]:
        limits = self.limits
        with transaction.atomic(), tenant_scope(self.tenant_id):
            self._lock()
            now = self.clock()
            state = Connection.objects.filter(pk=self.connection_id).values("blocked_until", "day_limit_reset_at").get()
            if state["day_limit_reset_at"] and state["day_limit_reset_at"] > now:
                return None, (state["day_limit_reset_at"] - now).total_seconds(), "daily call limit"
            if state["blocked_until"] and state["blocked_until"] > now:
                return None, (state["blocked_until"] - now).total_seconds(), "rate limit (remote asked to wait)"
            slots = ConnectionCallSlot.objects.filter(tenant_id=self.tenant_id, connection_id=self.connection_id)
            window_start = now - timedelta(seconds=limits.per_seconds)
            if limits.max_in_flight:
                in_flight = slots.filter(finished_at=None, lease_expires_at__gt=now).count()
                if in_flight >= limits.max_in_flight:
                    return None, self.poll_interval, "concurrent call limit"
            if limits.calls:
                recent = list(
                    slots.filter(started_at__gt=window_start)
                    .order_by("-started_at")
                    .values_list("started_at", flat=True)[: limits.calls]
                )
                if len(recent) >= limits.calls:
                    # The oldest of the newest `calls` slots must leave the window before another call fits.
                    wait = (recent[-1] + timedelta(seconds=limits.per_seconds) - now).total_seconds()
                    return None, max(wait, 0.001), "rate limit"
            slot = ConnectionCallSlot.objects.create(
                tenant_id=self.tenant_id,
                connection_id=self.connection_id,
                started_at=now,
                lease_expires_at=now + self.lease,
            )
            # Keep the table small: slots out of the window and no longer in flight are history.
            slots.filter(started_at__lte=window_start).filter(
                Q(finished_at__isnull=False) | Q(lease_expires_at__lte=now)
            ).delete()
            return Slot(id=slot.pk, started_at=now), 0.0, ""

    # What the remote told us -------------------------------------------------------------------------------

    def record_budget(self, budget: Budget) -> None:
        """Store the remaining calls the remote reported; a spent day quota parks the connection."""
        now = self.clock()
        changes = {}
        if budget.minute_remaining is not None:
            changes["minute_remaining"] = budget.minute_remaining
        if budget.day_remaining is not None:
            changes["day_remaining"] = budget.day_remaining
        if not changes:
            return
        with tenant_scope(self.tenant_id):
            Connection.objects.filter(pk=self.connection_id).update(**changes)
            if budget.day_remaining is not None and budget.day_remaining <= 0:
                # The remote does not say when its day resets; probe again after a while (a 429 then says exactly).
                until = now + timedelta(seconds=settings.CONNECTIONS_DAY_LIMIT_PROBE_SECONDS)
                Connection.objects.filter(pk=self.connection_id).filter(
                    Q(day_limit_reset_at__isnull=True) | Q(day_limit_reset_at__lt=now)
                ).update(day_limit_reset_at=until)

    def record_throttled(self, *, retry_after: float | None, day_limit: bool, budget: Budget | None = None) -> None:
        """A 429: every worker waits until `blocked_until`; a day-limit 429 parks the connection until reset."""
        now = self.clock()
        with tenant_scope(self.tenant_id):
            if day_limit:
                wait = retry_after if retry_after is not None else settings.CONNECTIONS_DAY_LIMIT_PROBE_SECONDS
                until = now + timedelta(seconds=wait)
                Connection.objects.filter(pk=self.connection_id).update(day_limit_reset_at=until, day_remaining=0)
                logger.warning("connection %s parked until %s: daily call limit reached", self.connection_id, until)
            else:
                wait = retry_after if retry_after is not None else self.limits.per_seconds
                until = now + timedelta(seconds=wait)
                changes = {"blocked_until": until}
                if budget is not None and budget.minute_remaining is not None:
                    changes["minute_remaining"] = budget.minute_remaining
                Connection.objects.filter(pk=self.connection_id).update(**changes)
                logger.info("connection %s throttled until %s", self.connection_id, until)

    def seconds_until_open(self) -> float:
        """How long until this connection may call again because of blocked_until or a day park (0 if open)."""
        now = self.clock()
        with tenant_scope(self.tenant_id):
            state = Connection.objects.filter(pk=self.connection_id).values("blocked_until", "day_limit_reset_at").get()
        later = [t for t in state.values() if t is not None and t > now]
        return max((t - now).total_seconds() for t in later) if later else 0.0
