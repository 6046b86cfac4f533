"""A task worker loads the URL configuration as it starts, not in its first task."""

from django.urls import clear_url_caches, get_resolver
from django_q.signals import post_spawn


def test_a_task_worker_builds_the_url_tables_as_it_starts():
    clear_url_caches()
    assert not get_resolver()._populated

    post_spawn.send(sender="django_q", proc_name="Process-1")

    resolver = get_resolver()
    assert resolver._populated
    # The admin's own table too: every payload line's fix link is an admin URL.
    assert resolver.namespace_dict["admin"][1]._populated
