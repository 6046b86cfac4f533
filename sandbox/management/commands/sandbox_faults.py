import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sandbox.faults import fault_profile_set
from sandbox.models import System


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError("a rate is between 0 and 1")
    return rate


class Command(BaseCommand):
    help = "Set the faults a simulated account injects: 5xx rate, extra 429s, dropped responses, latency, outage."

    def add_arguments(self, parser):
        parser.add_argument("system", choices=System.values)
        parser.add_argument("account", help="Xero tenantId, Magento store code, Cin7 account id or Gorgias domain.")
        parser.add_argument("--errors", type=_rate, help="share of requests answered with a 5xx (0-1)")
        parser.add_argument("--throttle", type=_rate, help="share of requests answered with an extra 429 (0-1)")
        parser.add_argument("--drop", type=_rate, help="share of writes applied, then answered with nothing (0-1)")
        parser.add_argument("--latency-ms", type=int, help="added latency per request")
        parser.add_argument("--outage-s", type=int, help="every request fails with 503 for this many seconds")
        parser.add_argument("--rate-limits", choices=["on", "off"], help="the system's own rate limits")
        parser.add_argument("--seed", type=int, help="seed of the fault sequence (same seed, same faults)")

    def handle(self, *args, **options):
        changes = {}
        for option, field in (
            ("errors", "error_rate"),
            ("throttle", "throttle_rate"),
            ("drop", "drop_rate"),
            ("latency_ms", "latency_ms"),
            ("seed", "seed"),
        ):
            if options[option] is not None:
                changes[field] = options[option]
        if options["latency_ms"] is not None and options["latency_ms"] < 0:
            raise CommandError("--latency-ms cannot be negative")
        if options["outage_s"] is not None:
            changes["outage_until"] = timezone.now() + timedelta(seconds=options["outage_s"])
        if options["rate_limits"] is not None:
            changes["rate_limits_enabled"] = options["rate_limits"] == "on"
        profile = fault_profile_set(system=options["system"], account=options["account"], **changes)
        self.stdout.write(
            json.dumps(
                {
                    "system": profile.system,
                    "account": profile.account,
                    "errors": profile.error_rate,
                    "throttle": profile.throttle_rate,
                    "drop": profile.drop_rate,
                    "latency_ms": profile.latency_ms,
                    "outage_until": profile.outage_until.isoformat() if profile.outage_until else None,
                    "rate_limits": profile.rate_limits_enabled,
                    "seed": profile.seed,
                }
            )
        )
