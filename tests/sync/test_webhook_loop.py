"""Deliveries stored and answered on the web server's event loop (sync.inbound.asgi, WebhookFront._answer_on_loop):
the usual delivery of a connection this process has cached never goes to a thread, and a partner or Xero gets
exactly what the threaded path answers, for it and for everything else (a bad signature, a malformed body, a
disconnected connection, a database that hung up).
"""

import asyncio
import json

import pytest
from django.db import connection as db
from django_q.models import OrmQ

from connections.models import Connection
from connections.services import connection_set_webhook_secret
from sync.inbound.webhooks import connection_cache
from sync.models import InboundEvent, QueuedInboxRun, WebhookStats
from sync.services.group_commit import AsyncGroupCommit, GroupFailed
from sync.services.inbox import LOOP_APPLICATION_NAME, delivery_tally, loop_database
from tenants.scoping import all_tenants, tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.test_webhook_asgi import ORG, Client, front, mine  # noqa: F401 - fixtures
from tests.sync.webhook_helpers import adobe_key_pair, adobe_sign, xero_invoice_delivery, xero_sign

pytestmark = pytest.mark.django_db(transaction=True)


class CountingExecutor:
    """The front's pool, counting the requests handed to its threads."""

    def __init__(self, executor):
        self.executor = executor
        self.submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return self.executor.submit(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.executor, name)


@pytest.fixture
def pool(front, settings):  # noqa: F811
    settings.WEBHOOK_COUNT_SECONDS = 3600  # no count written by a thread unless a test asks
    counting = CountingExecutor(front.executor)
    front.executor = counting
    return counting


def _stored(connection) -> list[InboundEvent]:
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection).order_by("id"))


def _deliver(front, connection, body=None, signature=None, *, loop=None):  # noqa: F811
    body = body or xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{connection.webhook_token}/"
    return Client(front, loop).send("POST", path, [body], [("x-xero-signature", signature or xero_sign(body))])


def test_a_cached_connections_delivery_is_stored_on_the_loop_and_answered_as_by_a_thread(front, mine, pool):  # noqa: F811
    threaded = _deliver(front, mine)  # the first reads the connection, in a thread
    assert pool.submitted == 1
    body = xero_invoice_delivery(ORG)
    on_loop = _deliver(front, mine, body)
    assert pool.submitted == 1  # no thread
    assert on_loop == threaded and on_loop[0] == 200 and on_loop[2] == b""
    stored = _stored(mine)
    assert len(stored) == 2 and stored[1].body == json.loads(body)["events"][0]
    assert stored[1].kind == "INVOICE.UPDATE" and stored[1].status == InboundEvent.Status.RECEIVED


def test_a_redelivery_on_the_loop_is_answered_and_stored_once(front, mine, pool):  # noqa: F811
    _deliver(front, mine)
    body = xero_invoice_delivery(ORG)
    assert _deliver(front, mine, body)[0] == 200
    assert _deliver(front, mine, body)[0] == 200
    assert pool.submitted == 1
    assert len(_stored(mine)) == 2


def test_a_bad_signature_for_a_cached_connection_stores_nothing_and_is_counted(front, mine, pool):  # noqa: F811
    _deliver(front, mine)
    body = xero_invoice_delivery(ORG)
    status, _, content = _deliver(front, mine, body, xero_sign(body, "other key"))
    assert status == 401 and json.loads(content)["code"] == "bad_signature"
    assert len(_stored(mine)) == 1
    with tenant_scope(mine.tenant_id):
        assert WebhookStats.objects.get(connection=mine).rejected == 1


def test_a_malformed_delivery_for_a_cached_connection_is_kept_as_rejected(front, mine, pool):  # noqa: F811
    _deliver(front, mine)
    body = b'{"events": "not a list"}'
    status, _, content = _deliver(front, mine, body)
    assert (status, content) == (200, b"")  # Xero's malformed deliveries are acknowledged
    rejected = [event for event in _stored(mine) if event.status == InboundEvent.Status.REJECTED]
    assert len(rejected) == 1 and "events" in rejected[0].reason


def test_a_connection_disconnected_after_it_was_cached_answers_404_and_stores_nothing(front, mine, pool):  # noqa: F811
    _deliver(front, mine)
    with all_tenants():
        Connection.objects.filter(pk=mine.pk).update(status=Connection.Status.DISCONNECTED)
    status, _, content = _deliver(front, mine)
    assert status == 404 and json.loads(content)["code"] == "not_found"
    assert len(_stored(mine)) == 1


def test_a_delivery_that_queues_its_connections_run_enqueues_its_task(front, mine, pool):  # noqa: F811
    _deliver(front, mine)
    # The run started (inbox_run_start deletes the queued row), and the first delivery's task was taken.
    with all_tenants():
        QueuedInboxRun.objects.all().delete()
    OrmQ.objects.all().delete()
    assert _deliver(front, mine)[0] == 200
    with all_tenants():
        assert list(QueuedInboxRun.objects.values_list("connection_id", flat=True)) == [mine.pk]
    assert [q.task["args"][0] for q in OrmQ.objects.all()] == [mine.pk]
    # One more delivery while that run is queued queues nothing more.
    assert _deliver(front, mine)[0] == 200
    assert OrmQ.objects.count() == 1


def test_accepted_deliveries_on_the_loop_are_counted(front, mine, pool, settings):  # noqa: F811
    settings.WEBHOOK_COUNT_SECONDS = 0  # written at once
    delivery_tally.clear()
    _deliver(front, mine)
    _deliver(front, mine)
    front.executor.executor.shutdown(wait=True)  # the count is written by a thread, after the answer
    with tenant_scope(mine.tenant_id):
        assert WebhookStats.objects.get(connection=mine).received == 2


def test_a_delivery_is_still_stored_when_the_database_hung_up_on_the_loops_connection(front, mine, pool):  # noqa: F811
    _deliver(front, mine)
    _deliver(front, mine)  # the loop's connection is open
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [LOOP_APPLICATION_NAME],
        )
    assert _deliver(front, mine)[0] == 200
    assert len(_stored(mine)) == 3
    assert _deliver(front, mine)[0] == 200  # and the loop opens a new connection
    assert len(_stored(mine)) == 4


def test_a_group_that_fails_fails_every_delivery_in_it():
    async def store(items):
        raise ValueError("no")

    async def run():
        groups = AsyncGroupCommit(store, max_items=10, max_weight=10)
        return await asyncio.gather(*(groups.submit(n) for n in range(3)), return_exceptions=True)

    first, *others = asyncio.run(run())
    assert isinstance(first, ValueError)
    assert all(isinstance(error, GroupFailed) for error in others)


def test_deliveries_that_arrive_while_a_statement_is_in_flight_share_the_next_one():
    groups_seen = []

    async def store(items):
        groups_seen.append(list(items))
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    async def run():
        groups = AsyncGroupCommit(store, max_items=3, max_weight=100)
        first = asyncio.ensure_future(groups.submit(0))
        await asyncio.sleep(0)  # the first statement is in flight
        return await asyncio.gather(first, *(groups.submit(n) for n in range(1, 6)))

    assert asyncio.run(run()) == [0, 10, 20, 30, 40, 50]
    assert groups_seen == [[0], [1, 2, 3], [4, 5]]


@pytest.fixture(autouse=True)
def _loop_connection_closed():
    yield
    loop_database.discard()


def test_a_signed_adobe_commerce_delivery_is_stored_on_the_loop_and_a_forged_one_refused(front, world, pool):  # noqa: F811
    connection_cache.clear()
    store = ConnectionFactory(tenant=world.tenant_a1, provider="magento", credentials={})
    with tenant_scope(store.tenant_id):
        connection_set_webhook_secret(connection=store, secret=adobe_key_pair()[1])
    path = f"/webhooks/magento/{store.webhook_token}/"

    def send(event_id, key="store"):
        body = json.dumps({"eventName": "observer.sales_order_save_after", "event_id": event_id, "data": {}}).encode()
        headers = [("x-adobe-commerce-webhook-signature", adobe_sign(body, key))]
        return Client(front).send("POST", path, [body], headers)

    threaded = send("e-1")
    on_loop = send("e-2")
    assert pool.submitted == 1
    assert on_loop == threaded and json.loads(on_loop[2]) == {"op": "success"}
    status, _, _ = send("e-3", key="other")
    assert status == 401
    assert sorted(event.dedupe_key for event in _stored(store)) == ["magento:e-1", "magento:e-2"]
