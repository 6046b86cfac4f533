"""Status transitions, the emails they send (once), activity, and the idle lifecycle."""

import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from connections import crypto, services, tasks
from connections.models import Connection
from tenants.models import ActivityEntry, Membership
from tenants.scoping import all_tenants, tenant_scope
from tests.factories import ConnectionFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _admins_of_a(world):
    admin = UserFactory(email="admin-a@example.com")
    MembershipFactory(agency=world.agency_a, user=admin, role=Membership.Role.ADMIN)
    return {"owner-a@example.com", "admin-a@example.com"}


def test_needs_reauth_emails_the_tenants_admins_once_per_transition(
    world, keys, connect, mailoutbox, django_capture_on_commit_callbacks
):
    expected = _admins_of_a(world)
    conn = connect(world.tenant_a1)
    with tenant_scope(world.tenant_a1), django_capture_on_commit_callbacks(execute=True):
        # Ten jobs hit the refused credentials; one transition, one email.
        results = [
            services.connection_mark_needs_reauth(
                connection=Connection.objects.get(pk=conn.pk), reason="Magento answered 401"
            )
            for _ in range(10)
        ]
    assert results.count(True) == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert set(message.to) == expected  # owners and admins, not the limited member, not agency B
    assert conn.display_name in message.subject and "Magento answered 401" in message.body
    assert "mag-secret" not in message.body

    with tenant_scope(world.tenant_a1), django_capture_on_commit_callbacks(execute=True):
        conn.refresh_from_db()
        assert conn.status == "needs_reauth" and conn.status_reason == "Magento answered 401"
        services.connection_set_credentials(connection=conn, credentials={"access_token": "new-token-991"})
        assert conn.status == "active"
        assert crypto.credentials_read(conn)["access_token"] == "new-token-991"
        # A new failure after reconnecting is a new transition: one more email.
        services.connection_mark_needs_reauth(connection=conn, reason="401 again")
        services.connection_mark_needs_reauth(connection=conn, reason="401 again")
    assert len(mailoutbox) == 2
    with tenant_scope(world.tenant_a1):
        actions = list(ActivityEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["connection.created", "connection.needs_reauth", "connection.active", "connection.needs_reauth"]


def test_disconnect_erases_secrets_and_cannot_be_revived(world, keys, connect):
    conn = connect(world.tenant_a1, webhook_secret="wh-secret-4")
    with tenant_scope(world.tenant_a1):
        assert services.connection_disconnect(connection=conn, reason="Closed the store") is True
        assert services.connection_disconnect(connection=conn, reason="again") is False
        conn.refresh_from_db()
        assert (conn.status, conn.credentials_ciphertext, conn.webhook_secret_ciphertext) == ("disconnected", "", "")
        assert not services.connection_mark_needs_reauth(connection=conn, reason="x")
        assert not services.connection_mark_active(connection=conn)
        with pytest.raises(services.ApplicationError):
            services.connection_set_credentials(connection=conn, credentials={"access_token": "t"})
        # The same store may be connected again once the old connection is disconnected.
        again = services.connection_create(
            tenant=world.tenant_a1,
            provider_id="magento",
            display_name="Again",
            credentials={"access_token": "t2"},
            account={"store_url": f"https://shop-{world.tenant_a1.pk}.example.com"},
        )
    assert again.external_account_id == conn.external_account_id


def test_oauth_providers_start_pending(world, keys, connect):
    conn = connect(world.tenant_a1, "xero")
    assert conn.status == "pending" and not conn.has_credentials
    with tenant_scope(world.tenant_a1):
        services.connection_set_credentials(
            connection=conn, credentials={"access_token": "a", "refresh_token": "r", "expires_at": "1900000000"}
        )
        conn.refresh_from_db()
    assert conn.status == "active"


def _idle(conn, days, tenant):
    with tenant_scope(tenant):
        Connection.objects.filter(pk=conn.pk).update(last_activity_at=timezone.now() - timedelta(days=days))


def test_idle_connections_are_warned_then_disconnected_each_email_once(
    world, keys, connect, mailoutbox, django_capture_on_commit_callbacks
):
    fresh = connect(world.tenant_a1, display_name="Fresh")
    warned = connect(world.tenant_a2, "cin7", display_name="Quiet Cin7")
    stale = connect(world.tenant_b1, "gorgias", display_name="Stale Gorgias")
    _idle(fresh, 10, world.tenant_a1)
    _idle(warned, 54, world.tenant_a2)
    _idle(stale, 61, world.tenant_b1)

    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.connections_idle_sweep_task()
        second = tasks.connections_idle_sweep_task()
    assert first == {"warned": 1, "disconnected": 1}
    assert second == {"warned": 0, "disconnected": 0}
    subjects = sorted(m.subject for m in mailoutbox)
    assert len(mailoutbox) == 2
    assert "Quiet Cin7" in subjects[0] and "will be disconnected on" in subjects[0]
    assert "Stale Gorgias was disconnected" in subjects[1]
    by_subject = {m.subject: m for m in mailoutbox}
    assert set(by_subject[subjects[0]].to) == {"owner-a@example.com"}
    assert set(by_subject[subjects[1]].to) == {"owner-b@example.com"}
    with all_tenants():
        states = dict(Connection.objects.values_list("display_name", "status"))
        assert Connection.objects.get(pk=stale.pk).credentials_ciphertext == ""
    assert states == {"Fresh": "active", "Quiet Cin7": "active", "Stale Gorgias": "disconnected"}

    # Activity re-arms the warning: after a new idle period the admins hear again, once.
    with tenant_scope(world.tenant_a2):
        services.connection_record_activity(connection=warned)
    _idle(warned, 55, world.tenant_a2)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.connections_idle_sweep_task() == {"warned": 1, "disconnected": 0}
        assert tasks.connections_idle_sweep_task() == {"warned": 0, "disconnected": 0}
    assert len(mailoutbox) == 3
    _idle(warned, 60, world.tenant_a2)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.connections_idle_sweep_task() == {"warned": 0, "disconnected": 1}
    assert len(mailoutbox) == 4


def test_a_never_used_connection_is_idle_from_its_last_status_change(world, keys):
    conn = ConnectionFactory(tenant=world.tenant_a1, status_changed_at=timezone.now() - timedelta(days=70))
    assert services.connections_idle_sweep() == {"warned": 0, "disconnected": 1}
    with tenant_scope(world.tenant_a1):
        conn.refresh_from_db()
    assert conn.status == "disconnected"


def test_rotate_command_prints_json(world, keys, connect, settings):
    from django.core.management import call_command

    connect(world.tenant_a1)
    settings.FIELD_ENCRYPTION_KEYS = [keys[1], keys[0]]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert json.loads(out.getvalue())["rotated"] == 1
