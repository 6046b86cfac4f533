"""What every api.xro call goes through before and after its handler.

Order, as Xero does it: Bearer token (401), xero-tenant-id of a connected organisation (403), injected faults
(503 outage, 5xx errors, extra 429), Xero's rate limits (concurrent, minute, day, app minute → 429), the
Idempotency-Key replay, the handler, the rate-limit headers, and finally the dropped response (write applied).
"""

import functools
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone

from sandbox.faults import commits_alone, drop_response, fault_decision
from sandbox.limits import window_hit, window_release
from sandbox.models import FaultProfile
from sandbox.xero import errors, spec
from sandbox.xero.models import Grant, IdempotentResponse, Organisation
from sandbox.xero.services.auth import AccessDenied, api_access_resolve
from sandbox.xero.wire import loads

SYSTEM = "xero"
MINUTE_LIMIT = 60
DAY_LIMIT = 5000
APP_MINUTE_LIMIT = 10000
CONCURRENT_LIMIT = 5
# An in-flight slot left by a crashed request frees itself after this long.
CONCURRENT_WINDOW_SECONDS = 300
IDEMPOTENCY_TTL = timedelta(minutes=6)
IDEMPOTENCY_KEY_MAX = 128
WRITE_METHODS = ("PUT", "POST", "DELETE")


@dataclass
class Call:
    """One api.xro call: who is asking, for which organisation, and its parsed query."""

    request: object
    grant: Grant
    org: Organisation
    path: str
    headers: dict = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def query(self):
        return self.request.GET

    def flag(self, name: str, default: bool) -> bool:
        for key, value in self.query.items():
            if key.lower() == name.lower():
                return value.strip().lower() in ("true", "1", "yes")
        return default

    def param(self, name: str):
        for key, value in self.query.items():
            if key.lower() == name.lower():
                return value
        return None

    @cached_property
    def unitdp(self) -> int:
        return 4 if (self.param("unitdp") or "").strip() == "4" else 2

    @cached_property
    def body(self):
        try:
            return loads(self.request.body)
        except ValueError as exc:
            raise errors.RequestInvalid("The request body is not valid JSON.") from exc


def _limit_headers(minute: int, day: int, app_minute: int) -> dict:
    return {
        "X-MinLimit-Remaining": str(minute),
        "X-DayLimit-Remaining": str(day),
        "X-AppMinLimit-Remaining": str(app_minute),
    }


def _apply_headers(response: HttpResponse, headers: dict) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path.lower(), request.META.get("QUERY_STRING", "")):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _error_response(which: int) -> HttpResponse:
    return errors.server_error() if which % 2 else errors.service_unavailable("Organisation offline")


def handle(request, path: str, handler) -> HttpResponse:
    """Run `handler(call)` for an api.xro request with everything Xero does around it."""
    violations_before = spec.violation_count()
    if spec.enabled():
        spec.check_request(request, path)
    response = _handle(request, path, handler)
    if spec.enabled():
        spec.check_response(request, path, response)
    if spec.violation_count() > violations_before:
        response[spec.VIOLATION_HEADER] = "1"
    return response


def _handle(request, path: str, handler) -> HttpResponse:
    try:
        tenant_id = uuid.UUID(request.headers.get("xero-tenant-id", "").strip())
    except ValueError:
        tenant_id = None  # still 401 before 403: the token is checked first
    try:
        grant, org = api_access_resolve(authorization=request.headers.get("Authorization"), tenant_id=tenant_id)
    except AccessDenied as exc:
        return errors.unauthorized(exc.detail, expired=exc.expired)
    if org is None:
        return errors.forbidden()
    account = str(org.tenant_id)
    decision = fault_decision(system=SYSTEM, account=account, is_write=request.method in WRITE_METHODS)
    if decision.outage:
        return errors.service_unavailable()
    if decision.error:
        seen = FaultProfile.objects.filter(system=SYSTEM, account=account).values_list("requests_seen", flat=True)
        return _error_response(next(iter(seen), 1))
    if decision.throttle:
        return errors.rate_limited("minute", 60, {})
    holding_slot = False
    limits = _limit_headers(MINUTE_LIMIT, DAY_LIMIT, APP_MINUTE_LIMIT)
    try:
        if decision.rate_limits_enabled:
            concurrent = window_hit(
                system=SYSTEM,
                account=account,
                bucket="concurrent",
                limit=CONCURRENT_LIMIT,
                window_seconds=CONCURRENT_WINDOW_SECONDS,
            )
            if not concurrent.allowed:
                return errors.rate_limited("concurrent", 1, {})
            holding_slot = True
            minute = window_hit(system=SYSTEM, account=account, bucket="minute", limit=MINUTE_LIMIT, window_seconds=60)
            if not minute.allowed:
                return errors.rate_limited("minute", minute.reset_seconds, _limit_headers(0, DAY_LIMIT, 0))
            day = window_hit(system=SYSTEM, account=account, bucket="day", limit=DAY_LIMIT, window_seconds=86400)
            if not day.allowed:
                return errors.rate_limited("day", day.reset_seconds, _limit_headers(minute.remaining, 0, 0))
            app_minute = window_hit(
                system=SYSTEM,
                account=grant.app.client_id,
                bucket="appminute",
                limit=APP_MINUTE_LIMIT,
                window_seconds=60,
            )
            if not app_minute.allowed:
                return errors.rate_limited(
                    "appminute", app_minute.reset_seconds, _limit_headers(minute.remaining, day.remaining, 0)
                )
            limits = _limit_headers(minute.remaining, day.remaining, app_minute.remaining)
        call = Call(request=request, grant=grant, org=org, path=path)
        response = _idempotent(call, handler)
        _apply_headers(response, limits)
        if decision.drop and request.method in WRITE_METHODS:
            return drop_response(request, response)
        return response
    finally:
        if holding_slot:
            window_release(system=SYSTEM, account=account, bucket="concurrent")


def _run(call: Call, handler, remember=None) -> HttpResponse:
    """The handler in one transaction; `remember(response)` runs in the same transaction when the handler answers
    (one commit, not two), or on its own after an error rolled the handler back."""
    from sandbox.xero.query import QueryError

    try:
        # A read writes no WAL and waits for none: only writes are worth the statement.
        asynchronous = commits_alone() and call.method in WRITE_METHODS
        with transaction.atomic():
            if asynchronous:
                _commit_without_waiting()
            response = handler(call)
            if remember is not None:
                remember(response)
            return response
    except errors.NotFound:
        response = errors.not_found()
    except errors.RequestInvalid as exc:
        response = errors.validation_exception(message=exc.message)
    except errors.ElementInvalid as exc:
        response = errors.validation_exception(elements=[{"ValidationErrors": [{"Message": m} for m in exc.messages]}])
    except QueryError as exc:
        response = errors.validation_exception(message=str(exc))
    if remember is not None:
        remember(response)
    return response


def _commit_without_waiting() -> None:
    """The simulator stands for a remote system whose durability is not ours: its transactions need not wait for
    their WAL to reach the disk (a crash may lose the last few simulated writes, never corrupt anything). Only for a
    transaction the simulator itself started (sandbox.faults.commits_alone, asked before it began)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


def _idempotent(call: Call, handler) -> HttpResponse:
    request = call.request
    key = request.headers.get("Idempotency-Key")
    if key is None or request.method not in ("PUT", "POST"):
        return _run(call, handler)
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        return errors.validation_exception(message="Idempotency-Key must be between 1 and 128 characters.")
    now = timezone.now()
    fingerprint = _fingerprint(request)
    remembered = _remembered(call.org, key)
    if remembered is not None and remembered.created_at <= now - IDEMPOTENCY_TTL:
        # Expired: forgotten, and this request runs as new.
        IdempotentResponse.objects.filter(pk=remembered.pk).delete()
        remembered = None
    if remembered is not None:
        if remembered.fingerprint != fingerprint:
            return errors.validation_exception(
                message="The Idempotency-Key has already been used with a different request."
            )
        return HttpResponse(bytes(remembered.body), status=remembered.status, content_type=remembered.content_type)

    def remember(response: HttpResponse) -> None:
        if response.status_code >= 500:
            return
        # A concurrent twin may have stored its answer first; ours is equivalent, and the handler's writes stand.
        _remember(
            IdempotentResponse(
                org=call.org,
                key=key,
                fingerprint=fingerprint,
                status=response.status_code,
                body=response.content,
                content_type=response.get("Content-Type", "application/json"),
                created_at=now,
            )
        )

    return _run(call, handler, remember)


# Every write with an Idempotency-Key (all of a drain's) looks its key up and stores its answer: the statements are
# the ORM's for filter(org=…, key=…).first() and bulk_create([…], ignore_conflicts=True), written once, since
# building and compiling those querysets cost more than running them (about 0.7 ms a request).


def _remembered(org: Organisation, key: str) -> IdempotentResponse | None:
    """The answer stored for `key` in `org`, if any."""
    return next(iter(IdempotentResponse.objects.raw(_idempotency_sql()[0], [org.pk, key])), None)


def _remember(answer: IdempotentResponse) -> None:
    """Store `answer` unless its key already has one."""
    values = [f.get_db_prep_save(getattr(answer, f.attname), connection) for f in _stored_fields()]
    with connection.cursor() as cursor:
        cursor.execute(_idempotency_sql()[1], values)


def _stored_fields() -> list:
    return [f for f in IdempotentResponse._meta.concrete_fields if not f.primary_key]


@functools.cache
def _idempotency_sql() -> tuple[str, str]:
    quote = connection.ops.quote_name
    meta = IdempotentResponse._meta
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    org, key = (quote(meta.get_field(name).column) for name in ("org", "key"))
    columns = ", ".join(quote(f.column) for f in _stored_fields())
    placeholders = ", ".join(["%s"] * len(_stored_fields()))
    return (
        f"SELECT * FROM {table} WHERE {org} = %s AND {key} = %s ORDER BY {pk} LIMIT 1",  # noqa: S608 - metadata only
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",  # noqa: S608
    )
