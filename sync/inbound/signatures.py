"""Authenticating webhook deliveries on their raw bytes, before anything parses them.

Every comparison of a secret is constant time. A verifier answers True or False and never raises on bad input:
a malformed header is just a wrong signature.
"""

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A webhook secret of Cin7 or Gorgias is "<Header-Name>: <value>"; a bare value is sent in this header.
DEFAULT_SECRET_HEADER = "X-Webhook-Secret"


def xero_signature_valid(*, body: bytes, signature: str, key: str) -> bool:
    """x-xero-signature is base64(HMAC-SHA256(raw body, the app's webhook key)) (research/xero.md §9)."""
    if not key or not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("latin-1", "replace"))


def adobe_commerce_signature_valid(*, body: bytes, signature: str, public_key_pem: str) -> bool:
    """x-adobe-commerce-webhook-signature: RSA-SHA256 (PKCS#1 v1.5) over base64(raw body), checked with the
    store's public key from Stores > Configuration > Adobe Services > Webhooks (research/sources.md §1.9)."""
    if not signature or not public_key_pem:
        return False
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        raw_signature = base64.b64decode(signature.strip(), validate=True)
    except (ValueError, TypeError, binascii.Error):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(raw_signature, base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def header_secret_parse(secret: str) -> tuple[str, str]:
    """Split a stored header secret into (header name, expected value)."""
    name, separator, value = secret.partition(":")
    if separator and name.strip() and " " not in name.strip() and value.strip():
        return name.strip(), value.strip()
    return DEFAULT_SECRET_HEADER, secret.strip()


def header_secret_valid(*, headers, secret: str) -> bool:
    """The request carries the configured header with the configured value (Cin7 and Gorgias sign nothing)."""
    name, expected = header_secret_parse(secret)
    given = headers.get(name)
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected.encode())
