"""Fail-closed tenant scoping, on django-scopes.

Every tenant-owned model's default manager refuses to query unless a tenant scope is active. Enter one with
`tenant_scope(tenant)` (or several tenants: `tenant_scope([t1, t2])`). Cross-tenant system work (schedulers,
sweepers, admin for superusers) uses `all_tenants()`; grep for it to audit every place that reads across tenants.
"""

from contextlib import contextmanager

from django_scopes import ScopeError, scope, scopes_disabled

__all__ = ["ScopeError", "all_tenants", "tenant_scope"]


def _tenant_id(tenant) -> int:
    tenant_id = getattr(tenant, "pk", tenant)
    if tenant_id is None:
        # django-scopes treats None as "no filter"; here it is a bug, so refuse rather than fail open.
        raise ScopeError("tenant_scope() needs a saved tenant, got None.")
    return int(tenant_id)


@contextmanager
def tenant_scope(tenant_or_tenants):
    """Scope tenant-owned queries to one tenant, or to a list of tenants (possibly empty: then nothing matches)."""
    if isinstance(tenant_or_tenants, (list, tuple, set, frozenset)):
        value = [_tenant_id(t) for t in tenant_or_tenants]
    else:
        value = _tenant_id(tenant_or_tenants)
    with scope(tenant=value):
        yield


@contextmanager
def all_tenants():
    """The escape hatch for cross-tenant system jobs. Every use must be justified by a comment."""
    with scopes_disabled():
        yield
