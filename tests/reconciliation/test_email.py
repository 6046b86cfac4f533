"""The email summary to a tenant's admins: sent when something needs action, never when all is well."""

from decimal import Decimal

import pytest
from django.core import mail

from connections.models import Connection
from reconciliation.models import Mismatch, ReconciliationRun
from reconciliation.services.alerts import reconciliation_alert
from reconciliation.services.requests import reconciliation_perform
from sync.models import Alert
from tenants.models import Membership
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, MembershipFactory, MismatchFactory, ReconciliationRunFactory, UserFactory
from tests.reconciliation.surfaces import run_with_findings

pytestmark = pytest.mark.django_db


def test_the_summary_lists_counts_totals_and_the_largest_differences(world, settings):
    settings.SITE_URL = "https://app.example.com"
    MembershipFactory(agency=world.agency_a, user=UserFactory(email="admin-a@example.com"), role=Membership.Role.ADMIN)
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    run_with_findings(world.tenant_b1, label_prefix="#B-")

    with tenant_scope(world.tenant_a1):
        alert = reconciliation_alert(run=run)
    assert alert.kind == Alert.Kind.RECONCILIATION
    (message,) = mail.outbox
    assert message.to == ["admin-a@example.com", "owner-a@example.com"]  # owners and admins, not members
    assert message.subject == "A One: reconciliation found 2 differences to look at"
    body = message.body
    # Counts per class that need action; the informational rounding line is not one of them.
    assert "- 1 × Amount differs" in body and "- 1 × Missing in Xero" in body
    assert "Rounding adjustment" not in body
    # Totals per side, and the largest differences with both values.
    assert "Invoices: 120 compared, 3 with differences; 15230.40 / 15217.90" in body
    assert "#1001 (invoice) — source 110.00, Xero 97.50, difference -12.50 AUD" in body
    assert amount.suggested_action in body
    assert f"https://app.example.com/reconciliation/tenants/{world.tenant_a1.pk}/runs/{run.pk}/" in body
    assert "#B-" not in body
    with tenant_scope(world.tenant_a1):
        assert Alert.objects.get().counts == {
            "needs_action": 2,
            "by_kind": {"amount_differs": 1, "missing_in_xero": 1},
            "run": run.pk,
        }
    with tenant_scope(world.tenant_b1):
        assert not Alert.objects.exists()


def test_no_email_when_everything_matches_or_is_only_informational_or_accepted(world):
    with tenant_scope(world.tenant_a1):
        clean = ReconciliationRunFactory(tenant=world.tenant_a1, mismatch_count=0)
        assert reconciliation_alert(run=clean) is None

        informational = ReconciliationRunFactory(tenant=world.tenant_a1, mismatch_count=1)
        MismatchFactory(
            tenant=world.tenant_a1,
            run=informational,
            kind=Mismatch.Kind.ROUNDING_ADJUSTMENT,
            difference=Decimal("0.01"),
        )
        assert reconciliation_alert(run=informational) is None

        settled = ReconciliationRunFactory(tenant=world.tenant_a1, mismatch_count=2)
        MismatchFactory(tenant=world.tenant_a1, run=settled, state=Mismatch.State.ACCEPTED, note="known")
        MismatchFactory(
            tenant=world.tenant_a1, run=settled, kind=Mismatch.Kind.MISSING_IN_XERO, state=Mismatch.State.HEALED
        )
        assert reconciliation_alert(run=settled) is None
        assert not Alert.objects.exists()
    assert mail.outbox == []


def _pending(tenant, *, trigger, xero_status):
    xero = ConnectionFactory(tenant=tenant, provider="xero", status=xero_status)
    return ReconciliationRunFactory(
        tenant=tenant,
        xero_connection=xero,
        trigger=trigger,
        status=ReconciliationRun.Status.PENDING,
        finished_at=None,
        summary={},
        mismatch_count=0,
    )


def test_a_scheduled_run_that_fails_emails_the_admins_once_with_the_cause(world, settings):
    settings.SITE_URL = "https://app.example.com"
    Trigger, Status = ReconciliationRun.Trigger, Connection.Status
    with tenant_scope(world.tenant_a1):
        scheduled = _pending(world.tenant_a1, trigger=Trigger.SCHEDULED, xero_status=Status.NEEDS_REAUTH)
        failed = reconciliation_perform(run=scheduled)
        reconciliation_perform(run=scheduled)  # the queue delivers the task a second time
    with tenant_scope(world.tenant_b1):
        healthy = _pending(world.tenant_b1, trigger=Trigger.SCHEDULED, xero_status=Status.ACTIVE)
        healthy.xero_connection.status = Status.DISCONNECTED  # disconnected after the run was queued
        healthy.xero_connection.save()
        reconciliation_perform(run=healthy)

    assert failed.status == ReconciliationRun.Status.FAILED
    assert [m.to for m in mail.outbox] == [["owner-a@example.com"], ["owner-b@example.com"]]
    message = mail.outbox[0]
    assert message.subject == "A One: the scheduled reconciliation with Xero could not run"
    assert "Why: Xero is not connected (the connection's status is “Needs re-authorisation”)" in message.body
    assert "reconnect it on the Connections page" in message.body
    assert f"https://app.example.com/reconciliation/tenants/{world.tenant_a1.pk}/" in message.body
    assert "B One" not in message.body and "“Disconnected”" in mail.outbox[1].body
    with tenant_scope(world.tenant_a1):
        alert = Alert.objects.get()
    assert (alert.kind, alert.counts) == (Alert.Kind.RECONCILIATION_FAILED, {"run": scheduled.pk})


def test_an_on_demand_run_that_fails_sends_no_email(world):
    with tenant_scope(world.tenant_a1):
        manual = _pending(
            world.tenant_a1, trigger=ReconciliationRun.Trigger.MANUAL, xero_status=Connection.Status.NEEDS_REAUTH
        )
        assert reconciliation_perform(run=manual).status == ReconciliationRun.Status.FAILED
        assert not Alert.objects.exists()
    assert mail.outbox == []
