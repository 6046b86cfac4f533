"""Credentials at rest: MultiFernet ciphertext bound to its row.

Fernet has no associated data, so the plaintext is a JSON envelope naming the purpose, the connection and the
tenant; decrypting checks all three, so ciphertext copied to another row (or from one purpose to another) fails.
Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first: encrypt with the first, decrypt with any, and
`manage.py rotate_encryption_keys` re-encrypts under the first.

Decryption failure always raises `CredentialsUnreadableError`; it never returns ciphertext or partial data.
"""

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.errors import ApplicationError

ENVELOPE_VERSION = 1
PURPOSE_CREDENTIALS = "credentials"
PURPOSE_WEBHOOK_SECRET = "webhook_secret"
# The secret we sign outbound partner webhooks with (connections.models.PartnerWebhookEndpoint).
PURPOSE_PARTNER_WEBHOOK_SECRET = "partner_webhook_secret"


class CredentialsUnreadableError(ApplicationError):
    """Stored credentials cannot be decrypted: wrong or missing key, tampering, or ciphertext from another row."""

    code = "credentials_unreadable"
    http_status = 500


class Credentials(Mapping):
    """Decrypted credentials. A read-only mapping whose repr and str never show the values."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None):
        self._data = dict(data or {})

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Credentials(fields={sorted(self._data)!r})"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling (task arguments, caches) would carry the secrets in plain text.
        raise TypeError("Credentials cannot be pickled; pass the connection id instead.")

    def secret_values(self) -> list[str]:
        return [str(value) for value in self._data.values() if value and len(str(value)) >= 4]

    def redact(self, text: str) -> str:
        """`text` with every credential value replaced, for messages that may echo a request."""
        for value in sorted(self.secret_values(), key=len, reverse=True):
            text = text.replace(value, "[redacted]")
        return text


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: credentials cannot be encrypted or read.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        # Never echo the key itself.
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key.") from exc


def multifernet() -> MultiFernet:
    """The MultiFernet for the configured keys (cached per key list, so settings overrides take effect)."""
    return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def _binding(connection) -> tuple[int, int]:
    if connection.pk is None or connection.tenant_id is None:
        raise ValueError("Save the connection before encrypting for it: ciphertext is bound to its id.")
    return int(connection.pk), int(connection.tenant_id)


def encrypt_for(connection, *, purpose: str, value) -> str:
    """Encrypt `value` (JSON-serialisable) for `connection` and `purpose`; returns the Fernet token as text."""
    connection_id, tenant_id = _binding(connection)
    envelope = {"v": ENVELOPE_VERSION, "p": purpose, "c": connection_id, "t": tenant_id, "d": value}
    return multifernet().encrypt(json.dumps(envelope, separators=(",", ":")).encode()).decode()


def decrypt_for(connection, *, purpose: str, token: str):
    """Decrypt a token made by `encrypt_for` for this same connection and purpose, or raise."""
    connection_id, tenant_id = _binding(connection)
    try:
        plaintext = multifernet().decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUnreadableError(
            f"The stored {purpose.replace('_', ' ')} of connection {connection_id} cannot be decrypted with the "
            "configured keys.",
            extra={"connection_id": connection_id},
        ) from None
    envelope = json.loads(plaintext)
    if (envelope.get("v"), envelope.get("p"), envelope.get("c"), envelope.get("t")) != (
        ENVELOPE_VERSION,
        purpose,
        connection_id,
        tenant_id,
    ):
        raise CredentialsUnreadableError(
            f"The stored {purpose.replace('_', ' ')} of connection {connection_id} belong to another row.",
            extra={"connection_id": connection_id},
        )
    return envelope["d"]


def credentials_read(connection) -> Credentials:
    """The connection's decrypted credentials (empty when none are stored)."""
    if not connection.credentials_ciphertext:
        return Credentials()
    return Credentials(decrypt_for(connection, purpose=PURPOSE_CREDENTIALS, token=connection.credentials_ciphertext))


def webhook_secret_read(connection) -> str | None:
    """The provider's webhook signing secret for this connection, or None."""
    if not connection.webhook_secret_ciphertext:
        return None
    return decrypt_for(connection, purpose=PURPOSE_WEBHOOK_SECRET, token=connection.webhook_secret_ciphertext)


def partner_webhook_secret_read(endpoint) -> str:
    """The signing secret of a partner's webhook endpoint (bound to the endpoint's connection)."""
    return decrypt_for(endpoint.connection, purpose=PURPOSE_PARTNER_WEBHOOK_SECRET, token=endpoint.secret_ciphertext)


def rotate_token(token: str) -> str:
    """Re-encrypt a token under the newest key (MultiFernet.rotate); raises when no configured key reads it."""
    try:
        return multifernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadableError("A stored secret cannot be decrypted with the configured keys.") from None
