"""A cache for one unit of work (a drain batch): mappings and Xero settings are read once, not once per record.

Outside `mapping_cache()` nothing is cached, so a change an admin saves is seen by the next batch. (Between blocks,
mappings.rules.MappingSet re-reads the mappings only when a row of them changed.)
"""

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

_cache: ContextVar[dict | None] = ContextVar("mapping_cache", default=None)


@contextmanager
def mapping_cache():
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def cached(key, build: Callable):
    """build() once per key inside mapping_cache(); every time outside it."""
    store = _cache.get()
    if store is None:
        return build()
    if key not in store:
        store[key] = build()
    return store[key]
