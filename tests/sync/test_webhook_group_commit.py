"""Deliveries that threads of one process store at the same moment go in one statement and one commit
(sync.services.group_commit); each thread still gets its own delivery's answer, and only once it is committed."""

import threading
import time

import pytest
from django.db import DataError, OperationalError, connection, transaction
from django_q.models import OrmQ

from sync.inbound.deliveries import HANDLERS
from sync.inbound.services import webhook_delivery_store
from sync.models import InboundEvent, QueuedInboxRun
from sync.services import inbox
from sync.services.group_commit import GroupCommit, GroupFailed
from tenants.scoping import all_tenants, tenant_scope
from tests.sync.webhook_helpers import xero_invoice_delivery

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]


def _events(connection) -> list[InboundEvent]:
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection))


def _until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Groups:
    """The process's group commit, replaced for a test: it records each group's size, and the first group's
    statement waits until `then_waiting` more deliveries have arrived, so that those go together in the next."""

    def __init__(self, monkeypatch, *, then_waiting: int, store=None):
        self.sizes: list[int] = []
        self.then_waiting = then_waiting
        self.inner = store or inbox._deliveries_store
        self.commit = GroupCommit(self._store, max_items=64, max_weight=20_000, alone_on=(DataError,))
        monkeypatch.setattr(inbox, "delivery_groups", self.commit)

    def _store(self, deliveries):
        self.sizes.append(len(deliveries))
        if len(self.sizes) == 1:
            _until(lambda: len(self.commit._waiting) == self.then_waiting)  # noqa: SLF001 - the test's clock
        return self.inner(deliveries)


def _deliver_in_threads(deliveries: list[tuple[object, bytes]], groups: Groups) -> list:
    """Store each (connection, body) from its own thread, the first alone and the others while it is stored; returns
    each one's counts or the exception it raised, in order."""
    results: list = [None] * len(deliveries)

    def deliver(index: int) -> None:
        target, body = deliveries[index]
        try:
            items = HANDLERS["xero"].parse(request=None, body=body)
            with tenant_scope(target.tenant_id):
                results[index] = webhook_delivery_store(connection=target, items=items)
        except Exception as exc:  # noqa: BLE001 - the main thread checks what each one got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(index,)) for index in range(len(deliveries))]
    threads[0].start()
    _until(lambda: groups.sizes)  # the first delivery's statement is under way: the others wait for it
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_deliveries_of_two_tenants_stored_together_each_get_their_own_answer(monkeypatch, xero_pair):
    mine, other = xero_pair
    groups = Groups(monkeypatch, then_waiting=2)
    first, mine_body, other_body = (
        xero_invoice_delivery(mine.external_account_id),
        xero_invoice_delivery(mine.external_account_id),
        xero_invoice_delivery(other.external_account_id),
    )
    results = _deliver_in_threads([(mine, first), (mine, mine_body), (other, other_body)], groups)

    assert groups.sizes == [1, 2]
    assert results == [{"stored": 1, "duplicates": 0, "rejected": 0, "unrouted": 0}] * 3
    # Each event went to its own tenant's connection, and each connection has its inbox run queued once.
    assert len(_events(mine)) == 2 and len(_events(other)) == 1
    assert {event.body["tenantId"] for event in _events(other)} == {other.external_account_id}
    with all_tenants():  # both tenants' queued runs, in one list
        assert sorted(QueuedInboxRun.objects.values_list("connection_id", flat=True)) == sorted([mine.pk, other.pk])
    assert sorted(q.task["args"][0] for q in OrmQ.objects.all()) == sorted([mine.pk, other.pk])


def test_a_redelivery_in_the_same_group_is_a_duplicate_and_queues_nothing_twice(monkeypatch, xero_pair):
    mine, other = xero_pair
    groups = Groups(monkeypatch, then_waiting=2)
    body = xero_invoice_delivery(mine.external_account_id)
    results = _deliver_in_threads(
        [(other, xero_invoice_delivery(other.external_account_id)), (mine, body), (mine, body)], groups
    )

    assert groups.sizes == [1, 2]
    assert sorted((r["stored"], r["duplicates"]) for r in results[1:]) == [(0, 1), (1, 0)]
    assert len(_events(mine)) == 1
    assert sorted(q.task["args"][0] for q in OrmQ.objects.all()) == sorted([mine.pk, other.pk])


def test_a_failed_commit_fails_every_delivery_of_the_group_and_stores_none_of_them(monkeypatch, xero_pair):
    mine, other = xero_pair

    def store_then_fail_to_commit(deliveries):
        if len(deliveries) == 1:
            return inbox._deliveries_store(deliveries)
        with transaction.atomic():  # the statement runs, then its commit fails: nothing of it may remain
            inbox._deliveries_store(deliveries)
            raise OperationalError("server closed the connection unexpectedly")

    groups = Groups(monkeypatch, then_waiting=2, store=store_then_fail_to_commit)
    results = _deliver_in_threads(
        [
            (other, xero_invoice_delivery(other.external_account_id)),
            (mine, xero_invoice_delivery(mine.external_account_id)),
            (other, xero_invoice_delivery(other.external_account_id)),
        ],
        groups,
    )

    assert groups.sizes == [1, 2]
    assert results[0]["stored"] == 1
    # One of the two led the failed group and got the error itself, the other a GroupFailed caused by it.
    errors = sorted(results[1:], key=lambda error: type(error).__name__)
    assert [type(error) for error in errors] == [GroupFailed, OperationalError]
    assert errors[0].__cause__ is errors[1]
    assert _events(mine) == [] and len(_events(other)) == 1
    assert [q.task["args"][0] for q in OrmQ.objects.all()] == [other.pk]

    # The process goes on storing: the failed group passed the lead on.
    items = HANDLERS["xero"].parse(request=None, body=xero_invoice_delivery(mine.external_account_id))
    assert webhook_delivery_store(connection=mine, items=items)["stored"] == 1


def test_a_delivery_the_database_refuses_fails_alone_and_its_group_is_stored(monkeypatch, xero_pair):
    """PostgreSQL refuses a number too large for a float (Python reads it as infinity): that delivery is answered
    with an error, but the other one that went in the same statement is stored all the same."""
    mine, other = xero_pair
    groups = Groups(monkeypatch, then_waiting=2)
    refused = xero_invoice_delivery(mine.external_account_id).replace(b'"UPDATE"', b'"UPDATE", "size": 1e400')
    results = _deliver_in_threads(
        [
            (other, xero_invoice_delivery(other.external_account_id)),
            (mine, refused),
            (other, xero_invoice_delivery(other.external_account_id)),
        ],
        groups,
    )

    assert groups.sizes == [1, 2, 1, 1]  # the group, then each of its deliveries alone
    assert isinstance(results[1], DataError)
    assert results[0]["stored"] == results[2]["stored"] == 1
    assert _events(mine) == [] and len(_events(other)) == 2


def test_a_delivery_inside_a_transaction_is_stored_in_it_not_in_a_group(monkeypatch, xero_pair):
    mine, _ = xero_pair
    groups = Groups(monkeypatch, then_waiting=0)
    items = HANDLERS["xero"].parse(request=None, body=xero_invoice_delivery(mine.external_account_id))
    with transaction.atomic():
        assert webhook_delivery_store(connection=mine, items=items)["stored"] == 1
        transaction.set_rollback(True)
    assert groups.sizes == [] and _events(mine) == []
