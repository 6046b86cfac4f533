"""Signing deliveries the way each provider does, for the webhook tests and the benchmark's own checks."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TEST_XERO_KEY = "test-webhook-key-3q2+7w=="


def xero_invoice_delivery(org: str) -> bytes:
    """A Xero webhook body with one new INVOICE UPDATE event for organisation `org` (a fresh resource id each time)."""
    event = {
        "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/x",
        "resourceId": str(uuid.uuid4()),
        "eventDateUtc": "2025-03-01T10:15:39.902",
        "eventType": "UPDATE",
        "eventCategory": "INVOICE",
        "tenantId": org,
        "tenantType": "ORGANISATION",
    }
    return json.dumps({"events": [event], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "AB"}).encode()


def xero_sign(body: bytes, key: str = TEST_XERO_KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def adobe_key_pair(name: str = "store"):
    """(private key, public key PEM) — generated once per test session and name."""
    return _key_pair(name)


@cache
def _key_pair(name: str):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, pem


def adobe_sign(body: bytes, name: str = "store") -> str:
    """What Adobe Commerce sends: base64(RSA-SHA256 signature of base64(body))."""
    private, _ = adobe_key_pair(name)
    return base64.b64encode(private.sign(base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())).decode()


def partner_signature_verify(delivery, secret: str, *, tolerance: int = 300) -> dict:
    """What a partner does with our webhook (README recipe): recompute the HMAC over "<t>." + raw body, compare in
    constant time, check the age. Returns the parsed body; an AssertionError when it does not verify."""
    header = delivery.headers["Ledgerbridge-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + bytes(delivery.body), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "signature does not verify"
    assert abs(time.time() - timestamp) < tolerance
    return json.loads(bytes(delivery.body))
