import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from tenants import services
from tenants.models import Membership
from tests.factories import AgencyFactory, MembershipFactory, TenantFactory, UserFactory


def pytest_collection_modifyitems(config, items):
    # Marked tests need PostgreSQL features (row locks across threads, advisory locks); skip them on SQLite.
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL")
    for item in items:
        if "needs_postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache, as it starts with an empty database.

    Values are cached under primary keys (a Magento store's tax basis per connection id). A test's rows are rolled
    back, and on SQLite so is the AUTOINCREMENT counter: the next test's connection got the same id and read the
    previous store's tax basis. PostgreSQL's sequences are not rolled back, which hid it there.
    """
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fresh_delivery_tally():
    """Each test starts with no webhook deliveries counted in memory (sync.services.inbox.DeliveryTally): counts a
    test left unwritten would otherwise be written by a later test, for a connection id it may have reused."""
    from sync.services.inbox import delivery_tally

    delivery_tally.clear()
    yield
    delivery_tally.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for production logins, not for thousands of test users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def xero_traffic_matches_the_spec(settings):
    """Every request any test sends to the Xero sandbox, and every answer, is validated against Xero's OpenAPI spec."""
    if not settings.SANDBOX_ENABLED:
        yield
        return
    from sandbox.xero import spec

    settings.SANDBOX_XERO_VALIDATE_SPEC = True
    spec.clear()
    yield
    violations = spec.clear()
    assert not violations, f"Xero spec violations: {violations}"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world(db):
    """Two agencies, each with an owner and two tenants, plus a member of A limited to A's first tenant.

    Every test that reads data uses both agencies, so a missing scope shows up as a leak.
    """

    class World:
        pass

    w = World()
    for name in ("a", "b"):
        agency = AgencyFactory(name=f"Agency {name.upper()}")
        owner = UserFactory(email=f"owner-{name}@example.com")
        MembershipFactory(agency=agency, user=owner, role=Membership.Role.OWNER)
        services._sync_staff_flag(owner)
        t1 = TenantFactory(agency=agency, name=f"{name.upper()} One")
        t2 = TenantFactory(agency=agency, name=f"{name.upper()} Two")
        setattr(w, f"agency_{name}", agency)
        setattr(w, f"owner_{name}", owner)
        setattr(w, f"tenant_{name}1", t1)
        setattr(w, f"tenant_{name}2", t2)
    w.member_a = UserFactory(email="member-a@example.com")
    membership = MembershipFactory(agency=w.agency_a, user=w.member_a, role=Membership.Role.MEMBER)
    membership.limited_to_tenants.set([w.tenant_a1])
    return w


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"
