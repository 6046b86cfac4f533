import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from connections import services
from tenants.scoping import tenant_scope


@pytest.fixture
def keys(settings):
    """Fresh Fernet keys; the configured list holds only the first (tests add the others as they rotate)."""
    generated = [Fernet.generate_key().decode() for _ in range(3)]
    settings.FIELD_ENCRYPTION_KEYS = [generated[0]]
    return generated


@pytest.fixture
def connect():
    """Create a connection through the service, in its tenant's scope."""

    def make(tenant, provider_id="magento", **kwargs):
        defaults = {
            "magento": {
                "credentials": {"access_token": f"mag-secret-{tenant.pk}-zz81"},
                "account": {"store_url": f"https://shop-{tenant.pk}.example.com"},
            },
            "cin7": {
                "credentials": {"application_key": f"c7-secret-{tenant.pk}-kk42"},
                "account": {"account_id": "3f1c2a9e-0b4d-4c7e-9a55-1d2e3f4a5b6c"},
            },
            "gorgias": {
                "credentials": {"username": "ops@example.com", "api_key": f"gorg-secret-{tenant.pk}-pp17"},
                "account": {"domain": f"acme{tenant.pk}"},
            },
            "rest": {},
            "xero": {},
        }[provider_id]
        with tenant_scope(tenant):
            return services.connection_create(
                tenant=tenant,
                provider_id=provider_id,
                display_name=kwargs.pop("display_name", f"{provider_id} of {tenant.name}"),
                **{**defaults, **kwargs},
            )

    return make


class ScaledClock:
    """Time that runs `speed` times faster than the wall clock, shared by every thread of a test.

    Lets the rate limiter run with Xero's real numbers (60 calls per 60 s) while the test takes a second.
    """

    def __init__(self, speed: float):
        self.speed = speed
        self.origin = timezone.now()
        self.t0 = time.monotonic()

    def now(self):
        return self.origin + timedelta(seconds=(time.monotonic() - self.t0) * self.speed)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)


class FakeClock:
    """A clock that moves only when told to (or when someone sleeps on it)."""

    def __init__(self):
        self.current = timezone.now()
        self.slept = []

    def now(self):
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


@pytest.fixture
def fake_clock():
    return FakeClock()
