"""Check api.xro traffic against Xero's own OpenAPI spec (shared/specs/xero/xero_accounting.yaml).

Switch: `settings.SANDBOX_XERO_VALIDATE_SPEC` (default False), or `spec.FORCE` (True/False overrides the setting).
When on, every api.xro request the simulator receives and every response it sends is validated with openapi-core;
a violation is recorded (`violations()`), marked on the response with the `X-Sandbox-Spec-Violation` header, and
logged at ERROR. A test suite turns it on and fails any test that recorded one (see tests/sandbox/xero/conftest.py);
`strict()` is a context manager that raises SpecViolation at exit if anything inside violated the spec.

Deliberate handling of the spec's quirks:
- Server URL: the spec's server is https://api.xero.com/api.xro/2.0; requests are re-based onto it.
- Path case: Xero matches paths case-insensitively (/contacts works); the request path is mapped onto the spec's
  spelling before validation.
- `/Contacts/{ContactNumber}` and `/Contacts/{ContactID}` are the same template; either answers the same schema.
- Status codes the spec does not document for an operation (400 on reads, 401, 403, 404, 429, 500, 503 — Xero
  answers them on every operation, research/xero.md §10) are not checked against a schema; their shapes are
  tested directly.
- Some boolean properties carry a string default ('false'), which openapi-core's spec check refuses; they are
  turned into booleans when the spec is loaded.
- Dates: the spec types Xero's "/Date(…)/" fields as plain strings (x-is-msdate), so they validate as strings; the
  `If-Modified-Since` header is `format: date-time`, so the product must send ISO 8601 there (the simulator also
  accepts an RFC 9110 HTTP-date, as Xero does, but the spec check flags it).
"""

import logging
import re
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

FORCE: bool | None = None
VIOLATION_HEADER = "X-Sandbox-Spec-Violation"
SERVER = "https://api.xero.com"
BASE_PATH = "/api.xro/2.0"
UNDOCUMENTED_STATUSES = {400, 401, 403, 404, 429, 500, 503}

_lock = threading.Lock()
_violations: list[dict] = []


class SpecViolation(AssertionError):  # noqa: N818 - reads as what it is
    pass


def spec_path() -> Path:
    return Path(settings.SHARED_DIR) / "specs" / "xero" / "xero_accounting.yaml"


def enabled() -> bool:
    if FORCE is not None:
        return FORCE
    return bool(getattr(settings, "SANDBOX_XERO_VALIDATE_SPEC", False))


def _fix_string_defaults(node) -> None:
    """The spec gives some booleans a string default ('false'); the spec check refuses that, so make them booleans."""
    if isinstance(node, dict):
        if node.get("type") == "boolean" and isinstance(node.get("default"), str):
            node["default"] = node["default"].lower() == "true"
        for value in node.values():
            _fix_string_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _fix_string_defaults(value)


@lru_cache(maxsize=1)
def _document() -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(spec_path(), encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    _fix_string_defaults(document)
    return document


@lru_cache(maxsize=1)
def openapi():
    """The parsed spec (loaded once per process: it is 25,000 lines)."""
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(_document())


@lru_cache(maxsize=1)
def _templates() -> list[tuple[re.Pattern, str, dict]]:
    out = []
    for template, item in _document()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(template)) + "/?$"
        out.append((re.compile(pattern, re.IGNORECASE), template, item))
    return out


def canonical_path(subpath: str) -> str | None:
    """The request's path under /api.xro/2.0 spelt as the spec spells it (None when the spec has no such path)."""
    subpath = "/" + subpath.strip("/")
    for pattern, template, _ in _templates():
        match = pattern.match(subpath)
        if match:
            values = iter(match.groups())
            return re.sub(r"\{[^/]+?\}", lambda _m, values=values: next(values), template)
    return None


def operation_statuses(subpath: str, method: str) -> set[str]:
    subpath = "/" + subpath.strip("/")
    for pattern, _, item in _templates():
        if pattern.match(subpath):
            operation = item.get(method.lower()) or {}
            return set(map(str, (operation.get("responses") or {}).keys()))
    return set()


class _Request:
    def __init__(self, django_request, subpath: str):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = SERVER
        self.path = BASE_PATH + (canonical_path(subpath) or "/" + subpath.strip("/"))
        self.method = django_request.method.lower()
        self.body = django_request.body or None
        self.content_type = (django_request.content_type or "application/json").lower()
        headers = Headers([(k, v) for k, v in django_request.headers.items()])
        self.parameters = RequestParameters(
            query=ImmutableMultiDict([(k, v) for k, values in django_request.GET.lists() for v in values]),
            header=headers,
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, django_response):
        from werkzeug.datastructures import Headers

        self.status_code = django_response.status_code
        self.content_type = (django_response.get("Content-Type") or "").split(";")[0].strip().lower()
        self.headers = Headers(list(django_response.items()))
        self.data = django_response.content


def _record(kind: str, method: str, path: str, error: Exception) -> None:
    detail = str(error)
    cause = getattr(error, "__cause__", None)
    if cause is not None:
        detail = f"{detail}: {cause}"
    for attr in ("schema_errors", "errors"):
        for sub in getattr(error, attr, None) or getattr(cause, attr, None) or []:
            detail += f" | {getattr(sub, 'message', sub)}"
    entry = {"kind": kind, "method": method, "path": path, "error": detail[:4000]}
    logger.error("Xero spec violation: %s", entry)
    with _lock:
        _violations.append(entry)


def check_request(django_request, subpath: str) -> None:
    """Validate one incoming api.xro request; record a violation if it breaks the spec."""
    request = _Request(django_request, subpath)
    try:
        openapi().validate_request(request)
    except Exception as exc:  # noqa: BLE001 - every validation failure is recorded, whatever its class
        _record("request", request.method.upper(), request.path, exc)


def check_response(django_request, subpath: str, django_response) -> None:
    """Validate one outgoing api.xro response (documented statuses only, see the module docstring)."""
    status = django_response.status_code
    if status in UNDOCUMENTED_STATUSES and str(status) not in operation_statuses(subpath, django_request.method):
        return
    request = _Request(django_request, subpath)
    try:
        openapi().validate_response(request, _Response(django_response))
    except Exception as exc:  # noqa: BLE001
        _record("response", request.method.upper(), request.path, exc)


def violations() -> list[dict]:
    with _lock:
        return list(_violations)


def violation_count() -> int:
    with _lock:
        return len(_violations)


def clear() -> list[dict]:
    """Forget recorded violations (returns them)."""
    with _lock:
        taken = list(_violations)
        _violations.clear()
        return taken


@contextmanager
def strict():
    """Validate everything inside the block and raise SpecViolation at its end if anything broke the spec."""
    global FORCE
    previous, before = FORCE, violation_count()
    FORCE = True
    try:
        yield
    finally:
        FORCE = previous
    new = violations()[before:]
    if new:
        raise SpecViolation(f"{len(new)} Xero spec violation(s): {new}")
