"""Staging write-backs asks for one sending run per connection and transaction, and a rollback asks for none."""

import pytest
from django.db import transaction
from django_q.models import OrmQ

from sync.models import WriteBack
from sync.services.write_backs import write_back_stage
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db(transaction=True)

RUN_TASK = "sync.tasks.write_backs_run_task"


def _queued_runs() -> list[int]:
    """The connections a queued write-back run is for, in queue order."""
    return [q.task["args"][0] for q in OrmQ.objects.order_by("id") if q.task["func"] == RUN_TASK]


def _stage(connection, n: int) -> None:
    write_back_stage(
        connection=connection,
        kind=WriteBack.Kind.ORDER_STATUS,
        event="invoice.paid",
        key=f"invoice.paid:{n}",
        source_id=str(n),
        data={"invoice_number": f"INV-{n}", "amount": "10.00"},
    )


@pytest.fixture
def magento_pair(world):
    return ConnectionFactory(tenant=world.tenant_a1), ConnectionFactory(tenant=world.tenant_b1)


def test_a_transaction_staging_many_write_backs_queues_one_run_per_connection(magento_pair):
    mine, other = magento_pair
    with transaction.atomic():
        with tenant_scope(mine.tenant):
            for n in range(3):
                _stage(mine, n)
        with tenant_scope(other.tenant):
            _stage(other, 1)

    assert _queued_runs() == [mine.pk, other.pk]
    with tenant_scope(mine.tenant):
        assert WriteBack.objects.count() == 3
    with tenant_scope(other.tenant):
        assert WriteBack.objects.count() == 1


def test_a_rolled_back_staging_queues_nothing_and_the_next_one_still_queues(magento_pair):
    mine, other = magento_pair
    with tenant_scope(mine.tenant):
        with pytest.raises(RuntimeError), transaction.atomic():
            _stage(mine, 1)
            raise RuntimeError("the staging transaction fails")
        assert _queued_runs() == [] and not WriteBack.objects.exists()

        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                _stage(mine, 2)
                raise RuntimeError("an inner step fails; its savepoint is rolled back")
            _stage(mine, 3)
        assert _queued_runs() == [mine.pk]
        assert list(WriteBack.objects.values_list("source_id", flat=True)) == ["3"]

        _stage(mine, 4)  # outside any transaction: a run of its own
    assert _queued_runs() == [mine.pk, mine.pk]
    with tenant_scope(other.tenant):
        assert not WriteBack.objects.exists()
