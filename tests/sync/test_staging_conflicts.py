"""Two workers staging the same change: the loser's copy of a job is not inserted, the rest of its jobs are."""

import pytest
from django.utils import timezone

from sync.models import SyncJob
from sync.services import staging
from tenants.scoping import tenant_scope
from tests.sync.engine_helpers import World

pytestmark = [pytest.mark.django_db, pytest.mark.needs_postgres]


def _payment(key: str, amount: str) -> dict:
    return {
        "operation": SyncJob.Operation.PAYMENT_CREATE,
        "entity": "payment",
        "source_id": key,
        "source_version": "1",
        "idempotency_key": key,
        "record": {"entity": "payment", "data": {"amount": amount}},
    }


def _insert(w: World, payments: list[dict]) -> list[dict]:
    """Store the jobs as one staging call stores its new jobs; returns their records as it holds them afterwards."""
    staged = staging._StagedRows(
        tenant_id=w.tenant.pk, source_connection=w.source, xero_connection=w.xero, backfill=None, now=timezone.now()
    )
    for payment in payments:
        staged.add(**payment)
    staged.insert()
    return [row[staged.RECORD] for row in staged.rows]


def test_a_job_another_worker_staged_meanwhile_is_kept_once_and_the_others_go_in(world):
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=1)
        _insert(b, [_payment("pay-2", "9.00")])
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=1)
        _insert(a, [_payment("pay-1", "5.00")])  # the other worker's, committed first
        twin, fresh = _payment("pay-1", "5.00"), _payment("pay-2", "7.50")

        records = _insert(a, [twin, fresh])

        stored = dict(SyncJob.objects.values_list("idempotency_key", "record__data__amount"))
        assert stored == {"pay-1": "5.00", "pay-2": "7.50"}
        # The jobs keep their records as documents, whichever way they went in.
        assert records == [
            {"entity": "payment", "data": {"amount": "5.00"}},
            {"entity": "payment", "data": {"amount": "7.50"}},
        ]
    with tenant_scope(world.tenant_b1):
        assert dict(SyncJob.objects.values_list("idempotency_key", "record__data__amount")) == {"pay-2": "9.00"}
