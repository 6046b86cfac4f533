"""Runs and mismatches as people see them in the surfaces tests (report, CSV, API, email), built with factories."""

from decimal import Decimal

from django_q.models import OrmQ

from reconciliation.models import Mismatch
from tenants.scoping import tenant_scope
from tests.factories import MismatchFactory, ReconciliationRunFactory


def run_with_findings(tenant, *, label_prefix="#"):
    """A done run of `tenant`: an amount difference, a record missing in Xero, a rounding line (informational)."""
    with tenant_scope(tenant):
        run = ReconciliationRunFactory(
            tenant=tenant,
            mismatch_count=3,
            summary={
                "invoice": {"compared": 120, "matched": 118, "source_total": "15230.40", "xero_total": "15217.90"},
                "contact": {"compared": 40, "matched": 40, "source_total": None, "xero_total": None},
            },
        )
        amount = MismatchFactory(
            tenant=tenant,
            run=run,
            source_id="1001",
            source_label=f"{label_prefix}1001",
            xero_label="INV-0042",
            source_value="110.00",
            xero_value="97.50",
            difference=Decimal("-12.50"),
        )
        missing = MismatchFactory(
            tenant=tenant,
            run=run,
            kind=Mismatch.Kind.MISSING_IN_XERO,
            source_id="1002",
            source_label=f"{label_prefix}1002",
            xero_id="",
            xero_label="",
            source_value="1234.50",
            xero_value="",
            difference=None,
            detail="Order #1002 has no invoice in Xero.",
            suggested_action="Resync it.",
        )
        rounding = MismatchFactory(
            tenant=tenant,
            run=run,
            kind=Mismatch.Kind.ROUNDING_ADJUSTMENT,
            source_id="1003",
            source_label=f"{label_prefix}1003",
            source_value="33.33",
            xero_value="33.34",
            difference=Decimal("0.01"),
            detail="A rounding line of 0.01 was added.",
            suggested_action="Nothing to do.",
        )
    return run, amount, missing, rounding


def queued_tasks() -> list[tuple[str, tuple]]:
    """(function, args) of every task waiting in the ORM broker, oldest first."""
    return [(q.task["func"], tuple(q.task["args"])) for q in OrmQ.objects.order_by("id")]
