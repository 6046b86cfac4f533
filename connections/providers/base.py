"""What a provider declares: who it is, how it authenticates, what it needs from a user, and its limits.

A provider module holds one `Provider` instance; the registry lists them. Behaviour that talks to the remote
system lives in the provider's client (a subclass of connections.client.BaseClient), named by `client_path`.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from importlib import import_module
from urllib.parse import urlsplit


class AuthKind(StrEnum):
    OAUTH2 = "oauth2"  # redirect flow, tokens refreshed by the provider (Xero)
    BEARER = "bearer"  # a long-lived token pasted by the user (Magento integration/admin token)
    HEADER_KEYS = "header_keys"  # account id + application key headers (Cin7 Core)
    BASIC = "basic"  # HTTP Basic username + API key (Gorgias)
    INBOUND_ONLY = "inbound_only"  # a partner pushes to our API; nothing outbound (REST)


class Role(StrEnum):
    SOURCE = "source"
    DESTINATION = "destination"


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    required: bool = True
    help_text: str = ""
    # Optional fields sharing a group are all-or-none (e.g. Magento's four OAuth 1.0a values).
    group: str = ""


@dataclass(frozen=True)
class AccountField:
    """A non-secret field identifying the remote account (store URL, domain, account id)."""

    name: str
    label: str
    required: bool = True
    help_text: str = ""


@dataclass(frozen=True)
class RateLimits:
    """Limits per connection. `calls` per rolling `per_seconds`; `max_in_flight` concurrent; `calls_per_day`."""

    calls: int | None = None
    per_seconds: float = 60.0
    max_in_flight: int | None = None
    calls_per_day: int | None = None

    @property
    def limited(self) -> bool:
        return bool(self.calls or self.max_in_flight)


@dataclass(frozen=True)
class Account:
    external_account_id: str
    base_url: str


class ProviderValidationError(ValueError):
    """Input that does not fit the provider's declaration; `errors` maps field name → messages (no values)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    role: Role
    auth_kind: AuthKind
    credential_fields: tuple[CredentialField, ...] = ()
    account_fields: tuple[AccountField, ...] = ()
    webhook_events: tuple[str, ...] = ()
    # Whether the provider signs its webhooks with a secret we must store ("" when it does not).
    webhook_signing: str = ""
    rate_limits: RateLimits = field(default_factory=RateLimits)
    default_base_url: str = ""
    # Record types a partner may push (REST provider only).
    record_types: tuple[str, ...] = ()
    # Dotted path of the provider's BaseClient subclass ("" when there is no outbound client).
    client_path: str = ""

    @property
    def connectable_with_credentials(self) -> bool:
        """Created by pasting credentials (API), as opposed to an OAuth redirect flow."""
        return self.auth_kind != AuthKind.OAUTH2

    @property
    def has_outbound_client(self) -> bool:
        return bool(self.client_path)

    def client_class(self):
        module, _, name = self.client_path.rpartition(".")
        return getattr(import_module(module), name)

    def validate_credentials(self, data: dict) -> dict[str, str]:
        """Check `data` against the declared fields; returns the cleaned mapping. Messages never carry values."""
        cleaned, errors = _clean_fields(self.credential_fields, data, kind="credential")
        groups = {f.group for f in self.credential_fields if f.group}
        for group in sorted(groups):
            members = [f for f in self.credential_fields if f.group == group]
            given = [f for f in members if f.name in cleaned]
            if given and len(given) != len(members):
                for f in members:
                    if f.name not in cleaned:
                        errors[f.name] = [f"{f.label} is required when any {group} value is given."]
        if errors:
            raise ProviderValidationError(errors)
        return cleaned

    def validate_account(self, data: dict) -> Account:
        """Turn the account fields the user typed into the connection's account id and API base URL."""
        values, errors = _clean_fields(self.account_fields, data, kind="account")
        if not errors:
            try:
                return self.account_from(values)
            except ProviderValidationError as exc:
                errors.update(exc.errors)
        raise ProviderValidationError(errors)

    def account_from(self, values: dict[str, str]) -> Account:
        """Providers override this to build the account id and base URL from validated fields."""
        return Account(external_account_id="", base_url=self.default_base_url)


def _clean_fields(fields, data: dict, *, kind: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Declared string fields, stripped: (values given, errors by field). Messages never carry values."""
    errors: dict[str, list[str]] = {}
    known = {f.name: f for f in fields}
    for name in sorted(set(data) - set(known)):
        errors[name] = [f"Unknown {kind} field."]
    values = {}
    for name, spec in known.items():
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = ["Must be a string."]
            continue
        value = (value or "").strip()
        if value:
            values[name] = value
        elif spec.required:
            errors[name] = [f"{spec.label} is required."]
    return values, errors


def https_url(value: str, *, field_name: str, allow_http: bool = False) -> str:
    """A normalised absolute URL without query or fragment, or a ProviderValidationError."""
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
        raise ProviderValidationError({field_name: ["Enter the https:// address, without a query string."]})
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
