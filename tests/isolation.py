"""Helpers the isolation matrix uses to find every API route, every admin, and a row of any model for an agency."""

import inspect
import re

import factory
from django.urls import URLPattern, URLResolver, get_resolver

from tests import factories


def api_routes(prefix: str = "api/v1/"):
    """Yield (route, callback) for every URL pattern under `prefix`, walking the whole URL configuration."""

    def walk(patterns, base):
        for pattern in patterns:
            route = base + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route, pattern

    for route, pattern in walk(get_resolver().url_patterns, ""):
        if route.startswith(prefix) or route.startswith("^" + prefix):
            yield route, pattern


def view_class(pattern):
    return getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)


def view_methods(pattern) -> list[str]:
    """HTTP methods this route answers (viewset action maps or APIView handlers)."""
    actions = getattr(pattern.callback, "actions", None)
    if actions:
        return [m.upper() for m in actions]
    cls = view_class(pattern)
    return [m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)]


def factory_for(model):
    """The factory in tests/factories.py that builds `model`: every model served must have one."""
    for _, obj in inspect.getmembers(factories, inspect.isclass):
        if issubclass(obj, factory.Factory) and obj._meta.model is model:
            return obj
    raise AssertionError(f"tests/factories.py has no factory for {model.__name__}; add one.")


def make_row_for(model, *, agency, tenant):
    """Create one row of `model` owned by `agency` (and `tenant` when the model is tenant-owned)."""
    field_names = {f.name for f in model._meta.get_fields()}
    factory = factory_for(model)
    if model.__name__ == "Agency":
        return agency
    if model.__name__ == "Tenant":
        return tenant
    if model.__name__ == "User":
        # People belong to agencies through memberships.
        return factories.MembershipFactory(agency=agency).user
    if "tenant" in field_names:
        return factory(tenant=tenant)
    if "agency" in field_names:
        return factory(agency=agency)
    raise AssertionError(f"{model.__name__} belongs neither to a tenant nor to an agency.")


def fill(route: str, **values) -> str:
    """Turn a route pattern into a path, substituting named groups and <converters>."""
    path = route.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), path)
    return "/" + path.replace("\\.", ".")
