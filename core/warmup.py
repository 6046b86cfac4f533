"""What a task worker loads once as it starts (django-q2's post_spawn signal), rather than in its first task."""

import gc

from django.urls import get_resolver, reverse


def url_configuration_load(**kwargs) -> None:
    """Import the URL configuration and build its reverse tables, the admin's included.

    A worker needs them for the fix links its payload lines carry (mappings.rules.fix_url) and, with the sandbox,
    for the simulated systems it calls in process. Built by the first task that needs them, they cost that task
    about a second, and their 27,000 objects (about 2.5 MB) went into a heap that the task's batches had already
    churned, wherever it had room: the drain's peak memory then depended on how much it had sent before its first
    invoice. Built as the worker starts, they sit with the rest of what it keeps for its life.
    """
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    reverse("admin:index")


def heap_freeze(**kwargs) -> None:
    """Move everything the worker has loaded so far (modules, URL tables, caches: about 140,000 objects) out of the
    garbage collector's reach, once it has collected what is already garbage.

    Those objects live as long as the worker, yet every full collection walked them all again: the process worker
    ran eight of them at 5,000 orders, 70-90 ms each for a few thousand objects of its own, a sixth of its CPU
    (0.6 of 4.1 s). Frozen, a full collection walks only what the tasks made since. Connected after the other
    receivers, so what they load is frozen with the rest.
    """
    gc.collect()
    gc.freeze()
