"""The in-process transport: Django's connection upkeep is suspended while the simulator runs, and only then."""

import gc
import types
import weakref

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.db import connection

from sandbox.transport import SandboxTransport


def _ok(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _finalizers() -> int:
    """The finalizers the request signals hold on their receivers (Signal.connect registers one per weak connect)."""
    count = 0
    for thing in gc.get_objects():
        info = thing.peek() if type(thing) is weakref.finalize else None
        # type(), not isinstance or getattr: another finalizer's callback may be a proxy whose object is gone.
        callback = info[1] if info is not None else None
        count += type(callback) is types.MethodType and callback.__self__ in (request_started, request_finished)
    return count


def test_requests_in_process_leave_nothing_behind_however_many():
    with httpx.Client(transport=SandboxTransport(app=_ok), base_url="http://testserver") as client:
        client.get("/")  # the first request connects what stays connected
        before = _finalizers()
        for _ in range(50):
            assert client.get("/").text == "ok"
        after = _finalizers()
    # Reconnecting Django's receiver after every request left two finalizers per request: 100 here.
    assert after - before == 0


@pytest.mark.django_db
def test_stale_connections_are_looked_for_on_requests_outside_the_simulator_and_not_inside(monkeypatch):
    looked = []
    connection.ensure_connection()
    # What close_old_connections asks of each open connection: seen here, where its own identity stays as it is.
    monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: looked.append(connection.alias))

    def signalling(environ, start_response):
        request_started.send(sender=None, environ=environ)  # as Django's handler does inside the simulator
        return _ok(environ, start_response)

    with httpx.Client(transport=SandboxTransport(app=signalling), base_url="http://testserver") as client:
        client.get("/")
        assert looked == []
        request_started.send(sender=None, environ={})  # a request served by the real server afterwards
    assert looked == ["default"]
