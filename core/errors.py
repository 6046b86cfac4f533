"""One family of errors with stable snake_case codes.

The API answers every error as {"code", "message", "extra"}; the sync engine uses the subclasses to decide what a
failure means: re-authorise, retry later, ask a person, or skip the record.
"""


class ApplicationError(Exception):
    code = "application_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    """Missing, or belonging to another agency or tenant: the two are indistinguishable on purpose."""

    code = "not_found"
    http_status = 404


class PermissionDeniedError(ApplicationError):
    code = "permission_denied"
    http_status = 403


class ProviderAuthError(ApplicationError):
    """Credentials were refused; never retried, the connection needs re-authorisation."""

    code = "provider_auth_failed"
    http_status = 502


class RetryableError(ApplicationError):
    """A passing failure (429, 5xx, timeout, network); `retry_after` is seconds when the remote said so.

    `maybe_applied` says whether the remote may have applied the request although no answer said so: true for a
    timeout, a lost connection or a 5xx, false for a refusal that comes before any work (a 429, our own rate
    limiter). A client that retried in place reports it for the whole request: an earlier attempt whose answer was
    lost may have been applied, whatever the last one said.
    """

    code = "retryable"
    http_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None, maybe_applied: bool = True, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied


class RequestError(ApplicationError):
    """The remote refused the request as invalid; a person must fix the cause (needs attention)."""

    code = "request_invalid"
    http_status = 422


class SkippableRecordError(ApplicationError):
    """One record cannot be processed and never will be; skip it and record why."""

    code = "record_skipped"
    http_status = 422
