"""Fault injection for the simulators.

A simulator view asks `fault_decision(system, account, is_write=...)` before doing its work and acts on the answer:
answer an outage or injected error in its own system's error shape, or apply the write and then drop the response
(`DROP_HEADER` on the response; `sandbox.transport.SandboxTransport` turns it into an httpx.ReadTimeout, and over
real HTTP the simulator sleeps past the caller's timeout instead).
"""

import random
import time
from dataclasses import dataclass

from django.db import connection
from django.db.models import F
from django.utils import timezone

from sandbox.models import FaultProfile

DROP_HEADER = "X-Sandbox-Drop-Response"
# Set by SandboxTransport on every request it carries, so a simulator knows it may drop by header, not by sleeping.
IN_PROCESS_HEADER = "X-Sandbox-In-Process"
# Over real HTTP a dropped response is delayed past any sane client timeout.
DROP_SLEEP_SECONDS = 65


@dataclass(frozen=True)
class FaultDecision:
    outage: bool = False
    error: bool = False
    throttle: bool = False
    drop: bool = False
    rate_limits_enabled: bool = True

    @property
    def fails_before_work(self) -> bool:
        return self.outage or self.error or self.throttle


NO_FAULTS = FaultDecision()


def fault_profile_set(*, system: str, account: str, **settings) -> FaultProfile:
    """Create or change the fault profile of one simulated account."""
    profile, _ = FaultProfile.objects.update_or_create(system=system, account=account, defaults=settings)
    return profile


def fault_decision(*, system: str, account: str, is_write: bool) -> FaultDecision:
    """Draw this request's faults from the account's seeded sequence (and sleep its latency)."""
    # One statement counts this request and reads the profile as counted (the count numbers this request's draw):
    # every simulated request passes here, and a read, an update and a re-read cost three round trips.
    table = connection.ops.quote_name(FaultProfile._meta.db_table)
    counted = FaultProfile.objects.raw(
        f"UPDATE {table} SET requests_seen = requests_seen + 1 WHERE system = %s AND account = %s"  # noqa: S608 - the table name is the model's
        f"{_COMMIT_WITHOUT_WAITING if commits_alone() else ''} RETURNING *",
        [system, account],
    )
    profile = next(iter(counted), None)
    if profile is None:
        return NO_FAULTS
    n = profile.requests_seen
    if profile.latency_ms:
        time.sleep(profile.latency_ms / 1000)
    draw = random.Random(f"{profile.seed}:{system}:{account}:{n}")
    outage = profile.outage_until is not None and profile.outage_until > timezone.now()
    decision = FaultDecision(
        outage=outage,
        error=not outage and draw.random() < profile.error_rate,
        throttle=not outage and draw.random() < profile.throttle_rate,
        drop=is_write and not outage and draw.random() < profile.drop_rate,
        rate_limits_enabled=profile.rate_limits_enabled,
    )
    if decision.outage or decision.error or decision.throttle or decision.drop:
        FaultProfile.objects.filter(pk=profile.pk).update(faults_injected=F("faults_injected") + 1)
    return decision


# A simulator stands for a remote system whose durability is not ours: a statement that is its own transaction need
# not wait for its WAL to reach the disk when it commits (10 ms a request on this machine's disk under load, 1 ms
# without). set_config(…, true) is SET LOCAL: it lasts until that transaction ends, its commit included.
_COMMIT_WITHOUT_WAITING = " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"


def commits_alone() -> bool:
    """Whether the next statement on this connection is a transaction of its own, so that making its commit
    asynchronous touches nothing else: PostgreSQL in autocommit, outside any atomic block. In process a simulator
    shares its caller's connection, and a caller's transaction (our own tables) keeps its synchronous commit."""
    return connection.vendor == "postgresql" and connection.get_autocommit() and not connection.in_atomic_block


def rate_limits_enabled(*, system: str, account: str) -> bool:
    value = FaultProfile.objects.filter(system=system, account=account).values_list("rate_limits_enabled", flat=True)
    return next(iter(value), True)


def drop_response(request, response):
    """Act out "applied, then the answer was lost" on a response whose write has already been committed."""
    response[DROP_HEADER] = "1"
    if not request.headers.get(IN_PROCESS_HEADER):
        time.sleep(DROP_SLEEP_SECONDS)
    return response
