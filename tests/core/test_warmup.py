"""A task worker loads the URL configuration as it starts, not in its first task, then freezes what it loaded."""

import gc

import pytest
from django.urls import clear_url_caches, get_resolver
from django_q.signals import post_spawn


@pytest.fixture(autouse=True)
def _unfrozen():
    # post_spawn freezes this test process's heap: give it back to the collector afterwards.
    yield
    gc.unfreeze()


def test_a_task_worker_builds_the_url_tables_as_it_starts():
    clear_url_caches()
    assert not get_resolver()._populated

    post_spawn.send(sender="django_q", proc_name="Process-1")

    resolver = get_resolver()
    assert resolver._populated
    # The admin's own table too: every payload line's fix link is an admin URL.
    assert resolver.namespace_dict["admin"][1]._populated


def test_a_task_worker_freezes_what_it_loaded_as_it_starts():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    post_spawn.send(sender="django_q", proc_name="Process-1")

    # What it loaded (the URL tables among the rest) is out of the collector's reach: a full collection no longer
    # walks it.
    assert gc.get_freeze_count() > 0
