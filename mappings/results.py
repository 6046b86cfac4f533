"""What every payload builder shares: the result type, JSON-ready numbers, the Xero settings, dates."""

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from connections.models import Connection
from connections.providers.xero.reference import XeroReference, xero_reference_get
from mappings.cache import cached
from mappings.lines import BuiltLine, Problem


@dataclass(frozen=True)
class PayloadResult:
    """A Xero payload, or None with the problems that stop it; per-line explanation for the preview.

    `prerequisites` lists what must exist in Xero before the payload is sent and may be created on the tenant's
    say-so (an item when items are created on demand, a tracking option when the mapping allows it).
    """

    payload: dict | None
    problems: tuple[Problem, ...]
    explanation: tuple[dict, ...] = ()
    prerequisites: tuple[dict, ...] = ()

    @property
    def ok(self) -> bool:
        return self.payload is not None and not self.problems


def wire(value):
    """JSON-ready numbers: Xero's spec types amounts as JSON numbers, and httpx and JSONField cannot take Decimal.

    Every amount here is quantised to at most 6 decimal places and far below 10**15, so float's shortest repr
    writes back exactly the decimal digits computed (e.g. Decimal("12.3456") → 12.3456 in the JSON text).
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    return value


def payload_json(payload: dict) -> str:
    """The payload as JSON text (for logs, hashes and tests)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def reference(xero_connection: Connection) -> tuple[XeroReference, list[Problem]]:
    ref = cached(("reference", xero_connection.pk), lambda: xero_reference_get(connection=xero_connection))
    if ref.is_empty:
        return ref, [
            Problem(
                "xero_settings_missing",
                f"Xero settings (tax rates, accounts) of “{xero_connection.display_name}” have not been fetched yet; "
                "refresh them before anything is sent.",
            )
        ]
    return ref, []


def local_date(moment: datetime | None, tenant_timezone: str) -> date:
    # Xero dates are the organisation's calendar days, not UTC ones.
    moment = moment or datetime.now(ZoneInfo("UTC"))
    try:
        zone = ZoneInfo(tenant_timezone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date()


def result(payload, problems, lines: list[BuiltLine], extra_explanation=()) -> PayloadResult:
    problems = tuple(dict.fromkeys(problems + [p for line in lines for p in line.problems]))
    explanation = tuple([line.explanation for line in lines if line.explanation] + list(extra_explanation))
    prerequisites = []
    for line in lines:
        for item in line.prerequisites:
            if item not in prerequisites:
                prerequisites.append(item)
    if problems:
        return PayloadResult(None, problems, explanation, tuple(prerequisites))
    return PayloadResult(wire(payload), (), explanation, tuple(prerequisites))
