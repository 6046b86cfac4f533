"""The one base client for every external system, on httpx.

What is generic lives here: timeouts, authentication by provider kind, error classification into core.errors,
retries with capped exponential backoff and full jitter (Retry-After first) for idempotent requests, the shared
per-connection rate limiter, one structured log line per external call, and per-day call counters. Paginators
for each provider's style are in connections.paging.

Construction:

    client = MagentoClient(connection=conn)                       # production: credentials decrypted from the row
    client = MagentoClient(connection=conn, transport=SandboxTransport())           # tests and demo
    client = BaseClient(provider=p, credentials={...}, base_url="https://…", transport=httpx.MockTransport(h))

The Xero provider plugs its OAuth2 tokens in through `access_token_provider`: a callable taking the client and
returning a current access token (refreshing single-flight when needed). On a 401 the client asks it once more
with `force_refresh=True` before giving up, so an expired token never costs a job.
"""

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx
from django.conf import settings
from django.utils import timezone

from connections import crypto
from connections.providers.base import AuthKind, Provider
from connections.ratelimit import Budget, RateLimiter
from core import jsonexact
from core.errors import ProviderAuthError, RequestError, RetryableError

logger = logging.getLogger("connections.client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Headers that name an idempotency key: a request carrying one may be retried whatever its method.
IDEMPOTENCY_HEADERS = ("Idempotency-Key",)
MAX_MESSAGE_CHARS = 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or timezone.now())).total_seconds())


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base · 2^(attempt-1))] for attempt 1, 2, 3, …"""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, ceiling)


class BaseClient:
    """Calls one provider's API for one connection. Subclasses add one method per remote operation.

    Hooks for subclasses: `auth_headers()` / `auth()` (authentication), `error_message(response)` (the remote's
    own words from its error body), `budget_from_headers(headers)` (remaining calls the remote reports),
    `is_day_limit(response)` (a 429 that parks the connection until the day resets).
    """

    provider: Provider | None = None

    def __init__(
        self,
        *,
        connection=None,
        provider: Provider | None = None,
        credentials: Mapping[str, str] | None = None,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout | None = None,
        access_token_provider: Callable[..., str] | None = None,
        rate_limiter: RateLimiter | None | bool = True,
        max_attempts: int | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        max_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.connection = connection
        if provider is not None:
            self.provider = provider
        elif self.provider is None and connection is not None:
            from connections.providers.registry import provider_get

            self.provider = provider_get(connection.provider)
        if self.provider is None:
            raise ValueError("A client needs a provider (or a connection naming one).")
        if credentials is None:
            credentials = crypto.credentials_read(connection) if connection is not None else {}
        self.credentials = (
            credentials if isinstance(credentials, crypto.Credentials) else crypto.Credentials(credentials)
        )
        self.base_url = (base_url or (connection.base_url if connection is not None else "") or "").rstrip("/")
        if not self.base_url:
            self.base_url = self.provider.default_base_url.rstrip("/")
        self.access_token_provider = access_token_provider
        self.max_attempts = max_attempts or settings.CONNECTIONS_HTTP_MAX_ATTEMPTS
        self.backoff_base = settings.CONNECTIONS_BACKOFF_BASE_SECONDS if backoff_base is None else backoff_base
        self.backoff_cap = settings.CONNECTIONS_BACKOFF_CAP_SECONDS if backoff_cap is None else backoff_cap
        self.max_wait = settings.CONNECTIONS_RATE_MAX_WAIT_SECONDS if max_wait is None else max_wait
        self.sleep = sleep
        self.rng = rng
        # Requests sent by this client, retries included (what a run's call count reports).
        self.calls = 0
        if rate_limiter is True:
            limited = connection is not None and connection.pk is not None and self.provider.rate_limits.limited
            rate_limiter = RateLimiter.for_connection(connection, sleep=sleep) if limited else None
        self.rate_limiter = rate_limiter or None
        if timeout is None:
            timeout = httpx.Timeout(
                settings.CONNECTIONS_HTTP_TIMEOUT_SECONDS, connect=settings.CONNECTIONS_HTTP_CONNECT_TIMEOUT_SECONDS
            )
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            auth=self.auth(),
            headers={"Accept": "application/json", "User-Agent": "Ledgerbridge/1.0"},
            follow_redirects=False,
        )

    # Hooks -------------------------------------------------------------------------------------------------

    def auth(self) -> httpx.Auth | None:
        """An httpx.Auth for the request (HTTP Basic; OAuth 1.0a signing in Magento's client), or None."""
        if self.provider.auth_kind == AuthKind.BASIC and self.credentials:
            return httpx.BasicAuth(self.credentials.get("username", ""), self.credentials.get("api_key", ""))
        return None

    def auth_headers(self, *, force_refresh: bool = False) -> dict[str, str]:
        """Headers that authenticate a request, by the provider's auth kind."""
        kind = self.provider.auth_kind
        if self.access_token_provider is not None:
            token = self.access_token_provider(self, force_refresh=force_refresh)
            return {"Authorization": f"Bearer {token}"}
        if kind == AuthKind.BEARER and self.credentials.get("access_token"):
            return {"Authorization": f"Bearer {self.credentials['access_token']}"}
        return {}

    def error_message(self, response: httpx.Response) -> str:
        """The remote's explanation of an error, from its body; providers override for their shape."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:MAX_MESSAGE_CHARS] or response.reason_phrase
        if isinstance(body, dict):
            for key in ("message", "Message", "Detail", "detail", "error_description", "error"):
                if isinstance(body.get(key), str) and body[key]:
                    return body[key]
        return response.reason_phrase

    def budget_from_headers(self, headers: httpx.Headers) -> Budget | None:
        """Remaining calls the remote reports in its response headers, or None."""
        return None

    def is_day_limit(self, response: httpx.Response) -> bool:
        """True when a 429 means the daily quota is spent (park until reset), not the minute one."""
        return False

    # Calls -------------------------------------------------------------------------------------------------

    def get(self, path: str, **kwargs) -> httpx.Response:
        """GET `path`; retried on passing failures."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        """POST `path`; retried only when an idempotency key is given."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> httpx.Response:
        """PUT `path`; retried on passing failures."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        """DELETE `path`; retried on passing failures."""
        return self.request("DELETE", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping | None = None,
        json_body=None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send one logical request and return the 2xx/3xx response, or raise a core.errors error.

        GET/PUT/DELETE and any request with an idempotency key are retried on 429, 5xx, timeouts and network
        errors, sleeping Retry-After when given and short, else a capped exponential backoff with full jitter.
        A wait longer than the in-worker limit raises RetryableError(retry_after=…) so the job is rescheduled.
        """
        method = method.upper()
        extra_headers = dict(headers or {})
        if idempotency_key:
            extra_headers["Idempotency-Key"] = idempotency_key
        retryable = method in IDEMPOTENT_METHODS or any(h in extra_headers for h in IDEMPOTENCY_HEADERS)
        refreshed = False
        attempt = 0
        maybe_applied = False
        while True:
            attempt += 1
            try:
                return self._send_once(
                    method,
                    path,
                    params=params,
                    json_body=json_body,
                    headers=extra_headers,
                    attempt=attempt,
                    force_refresh=refreshed,
                )
            except ProviderAuthError:
                # An OAuth2 token may have expired between the check and the call: refresh once, then give up.
                if self.access_token_provider is None or refreshed:
                    raise
                refreshed = True
            except RetryableError as exc:
                # An attempt whose answer was lost may have been applied; a later 429 does not undo that, and the
                # caller must look before it sends the same write again under another key.
                maybe_applied = exc.maybe_applied = maybe_applied or exc.maybe_applied
                if not retryable or attempt >= self.max_attempts:
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap, rng=self.rng)
                if delay > self.max_wait:
                    raise
                self.sleep(delay)

    def _send_once(self, method, path, *, params, json_body, headers, attempt, force_refresh) -> httpx.Response:
        # Authenticate first: fetching or refreshing a token is not a call against this connection's API budget.
        # Bodies are encoded with exact decimals: amounts reach the remote as the digits we hold, never via float.
        body_headers = {"Content-Type": "application/json"} if json_body is not None else {}
        request = self._http.build_request(
            method,
            path,
            params=params,
            content=jsonexact.dumps(json_body).encode() if json_body is not None else None,
            headers={**headers, **body_headers, **self.auth_headers(force_refresh=force_refresh)},
        )
        slot = self.rate_limiter.acquire() if self.rate_limiter is not None else None
        if slot is not None:
            # Lets a transport (and tests) see which rate-limiter grant a request went out under.
            request.extensions["connections.rate_slot"] = slot
        started = time.monotonic()
        status = None
        error_kind = None
        try:
            try:
                response = self._http.send(request)
            except httpx.TimeoutException as exc:
                error_kind = "timeout"
                raise RetryableError(
                    f"{self.provider.name} did not answer in time.",
                    code="provider_timeout",
                    extra=self._extra(method, request),
                ) from exc
            except httpx.TransportError as exc:
                error_kind = "network"
                raise RetryableError(
                    f"{self.provider.name} could not be reached ({type(exc).__name__}).",
                    code="provider_unreachable",
                    extra=self._extra(method, request),
                ) from exc
            status = response.status_code
            # httpx binds a response to its stream and the stream back to the response: a reference cycle, so the
            # body (a megabyte for a page of 300 orders) would wait for the cyclic garbage collector, and a poll's
            # memory grew with every page read. The body is read already; keep it without the cycle.
            response.stream = httpx.ByteStream(response.content)
        finally:
            if slot is not None:
                self.rate_limiter.release(slot)
            # The path only: query strings may carry secrets (Magento's OAuth 1.0a can sign in the query).
            self._record_call(method, request.url.path, status, started, attempt, error_kind)
        self._after_response(response)
        self._raise_for_status(method, request, response)
        return response

    def _after_response(self, response: httpx.Response) -> None:
        if self.rate_limiter is None:
            return
        budget = self.budget_from_headers(response.headers)
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.rate_limiter.record_throttled(
                retry_after=retry_after, day_limit=self.is_day_limit(response), budget=budget
            )
        elif budget is not None:
            self.rate_limiter.record_budget(budget)

    def _raise_for_status(self, method: str, request: httpx.Request, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        message = self.credentials.redact(self.error_message(response) or response.reason_phrase)[:MAX_MESSAGE_CHARS]
        extra = {**self._extra(method, request), "status": status}
        if status in (401, 403):
            raise ProviderAuthError(f"{self.provider.name} refused the credentials: {message}", extra=extra)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429 and self.rate_limiter is not None:
                # The limiter now holds blocked_until (or the day park); the longer wait wins.
                parked = self.rate_limiter.seconds_until_open()
                if parked > (retry_after or 0.0):
                    retry_after = parked
            code = "provider_rate_limited" if status == 429 else "provider_unavailable"
            raise RetryableError(
                f"{self.provider.name} answered {status}: {message}",
                code=code,
                retry_after=retry_after,
                maybe_applied=status != 429,
                extra=extra,
            )
        raise RequestError(
            f"{self.provider.name} refused the request: {message}", code="provider_request_refused", extra=extra
        )

    def _extra(self, method: str, request: httpx.Request) -> dict:
        return {"provider": self.provider.id, "method": method, "path": request.url.path}

    def _record_call(self, method, path, status, started, attempt, error_kind) -> None:
        self.calls += 1
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        line = {
            "event": "external_call",
            "connection_id": getattr(self.connection, "pk", None),
            "provider": self.provider.id,
            "method": method,
            "path": path,
            "status": status,
            "error": error_kind,
            "duration_ms": duration_ms,
            "attempt": attempt,
        }
        logger.info(json.dumps(line), extra={"external_call": line})
        if self.connection is not None and self.connection.pk is not None:
            from connections.services import connection_call_record

            connection_call_record(connection=self.connection, succeeded=status is not None and status < 400)

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider={self.provider.id} connection={getattr(self.connection, 'pk', None)}>"
