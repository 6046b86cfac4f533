"""Shared fixed-window rate counters for the simulators (database rows, so every process sees the same count)."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from sandbox.models import RateCounter


@dataclass(frozen=True)
class WindowState:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


def window_hit(*, system: str, account: str, bucket: str, limit: int, window_seconds: int) -> WindowState:
    """Count one request in the current window of `bucket`; refused (not counted) when the limit is reached."""
    now = timezone.now()
    window = timedelta(seconds=window_seconds)
    with transaction.atomic():
        try:
            with transaction.atomic():
                counter, _ = RateCounter.objects.select_for_update().get_or_create(
                    system=system, account=account, bucket=bucket, defaults={"window_start": now}
                )
        except IntegrityError:
            counter = RateCounter.objects.select_for_update().get(system=system, account=account, bucket=bucket)
        if now - counter.window_start >= window:
            counter.window_start, counter.count = now, 0
        reset = max(1, int((counter.window_start + window - now).total_seconds() + 0.999))
        if counter.count >= limit:
            counter.save(update_fields=["window_start", "count"])
            return WindowState(allowed=False, limit=limit, remaining=0, reset_seconds=reset)
        counter.count += 1
        counter.save(update_fields=["window_start", "count"])
        return WindowState(allowed=True, limit=limit, remaining=limit - counter.count, reset_seconds=reset)


def window_release(*, system: str, account: str, bucket: str) -> None:
    """Give one unit back (for in-flight counters: call when the request ends)."""
    from django.db.models import F

    RateCounter.objects.filter(system=system, account=account, bucket=bucket, count__gt=0).update(count=F("count") - 1)
