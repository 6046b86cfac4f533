"""/api/v1/tenants/{tenant_id}/reconciliations/: runs, on-demand runs, mismatches, CSV, actions, and isolation."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from reconciliation.models import Mismatch, ReconciliationRun
from tenants import services
from tenants.models import ActivityEntry
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.reconciliation.surfaces import queued_tasks, run_with_findings

pytestmark = pytest.mark.django_db


def _base(tenant):
    return f"/api/v1/tenants/{tenant.pk}/reconciliations/"


def test_runs_list_and_a_run_with_its_summary(world, api):
    run, *_ = run_with_findings(world.tenant_a1)
    run_b, *_ = run_with_findings(world.tenant_b1)
    api.force_login(world.owner_a)

    listed = api.get(_base(world.tenant_a1)).json()
    assert [r["id"] for r in listed["results"]] == [run.pk]

    body = api.get(f"{_base(world.tenant_a1)}{run.pk}/").json()
    assert body["status"] == "done" and body["mismatch_count"] == 3
    report = body["report"]
    assert report["total"] == 3 and report["needs_action"] == 2
    assert {k["kind"]: k["count"] for k in report["kinds"]} == {
        "amount_differs": 1,
        "missing_in_xero": 1,
        "rounding_adjustment": 1,
    }
    invoices = next(e for e in report["entities"] if e["entity"] == "invoice")
    assert invoices == {
        "entity": "invoice",
        "compared": 120,
        "matched": 118,
        "mismatches": 3,
        "source_total": "15230.40",
        "xero_total": "15217.90",
        "total_difference": "-12.50",
    }
    # Another tenant's run is a 404 through A's tenant too, exactly like a missing one.
    assert api.get(f"{_base(world.tenant_a1)}{run_b.pk}/").status_code == 404
    assert api.get(f"{_base(world.tenant_b1)}{run_b.pk}/").json()["code"] == "not_found"


def test_mismatches_filter_sort_and_paginate(world, api):
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    api.force_login(world.owner_a)
    url = f"{_base(world.tenant_a1)}{run.pk}/mismatches/"

    everything = api.get(url).json()
    assert everything["count"] == 3
    first = next(m for m in everything["results"] if m["id"] == amount.pk)
    assert (first["source_value"], first["xero_value"], first["difference"]) == ("110.00", "97.50", "-12.50")
    assert first["suggested_action"] == amount.suggested_action

    assert [m["id"] for m in api.get(url, {"kind": "missing_in_xero"}).json()["results"]] == [missing.pk]
    assert [m["id"] for m in api.get(url, {"sort": "-difference"}).json()["results"]] == [
        amount.pk,
        rounding.pk,
        missing.pk,
    ]
    assert api.get(url, {"entity": "contact"}).json()["count"] == 0
    page = api.get(url, {"page_size": 2, "page": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 1

    bad = api.get(url, {"kind": "nonsense"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert api.get(url, {"sort": "amount"}).status_code == 400


def test_csv_through_the_api(world, api):
    run, *_ = run_with_findings(world.tenant_a1)
    _, full_key = services.api_key_create(agency=world.agency_a, name="books", read_only=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    response = api.get(f"{_base(world.tenant_a1)}{run.pk}/csv/")
    assert response.status_code == 200 and response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["kind", "class", "entity"] and len(rows) == 4


@pytest.mark.parametrize(
    "period,message",
    [
        ({"period_start": "2026-03-31", "period_end": "2026-03-01"}, "must start on or before its end"),
        ({"period_start": "2024-01-01", "period_end": "2025-01-02"}, "at most 366 days"),
        ({"period_start": "2026-03-01"}, "period_end"),
        ({"period_start": "2026-03-01", "period_end": "31/03/2026"}, "period_end"),
        ({"period_start": "2026-03-01", "period_end": "2026-03-31", "tenant": 2}, "Unknown field"),
    ],
)
def test_bad_periods_are_400_in_the_error_shape(world, api, period, message):
    with tenant_scope(world.tenant_a1):
        ConnectionFactory(tenant=world.tenant_a1, provider="xero")
    api.force_login(world.owner_a)
    response = api.post(_base(world.tenant_a1), period, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "extra"} and body["code"] == "invalid"
    assert message in body["message"] or message in str(body["extra"])
    assert queued_tasks() == []


def test_a_period_in_the_future_or_without_xero_is_refused(world, api):
    api.force_login(world.owner_a)
    today = timezone.now().date()
    no_xero = api.post(
        _base(world.tenant_a1), {"period_start": "2026-01-01", "period_end": "2026-01-31"}, format="json"
    )
    assert no_xero.status_code == 400 and no_xero.json()["code"] == "no_xero_connection"
    with tenant_scope(world.tenant_a1):
        ConnectionFactory(tenant=world.tenant_a1, provider="xero")
    future = api.post(
        _base(world.tenant_a1),
        {"period_start": today.isoformat(), "period_end": (today + timedelta(days=2)).isoformat()},
        format="json",
    )
    assert future.status_code == 400 and "cannot end after today" in future.json()["message"]
    assert queued_tasks() == []
    with tenant_scope(world.tenant_a1):
        assert not ReconciliationRun.objects.exists()


def test_an_on_demand_run_is_queued_with_202(world, api):
    with tenant_scope(world.tenant_a1):
        ConnectionFactory(tenant=world.tenant_a1, provider="xero")
    api.force_login(world.member_a)  # members may compare; only admins act on the results
    response = api.post(
        _base(world.tenant_a1), {"period_start": "2026-02-01", "period_end": "2026-02-28"}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    with tenant_scope(world.tenant_a1):
        run = ReconciliationRun.objects.get()
    # The run exists at once, pending: its id and address are what the caller follows.
    assert run.status == ReconciliationRun.Status.PENDING and run.requested_by == world.member_a
    assert body["id"] == run.pk and body["status"] == "pending" and body["task_id"]
    assert body["url"] == f"http://testserver{_base(world.tenant_a1)}{run.pk}/"
    assert (body["period_start"], body["period_end"]) == ("2026-02-01", "2026-02-28")
    followed = api.get(body["url"]).json()
    assert followed["id"] == run.pk and followed["status"] == "pending"
    assert queued_tasks() == [("reconciliation.tasks.reconciliation_run_task", (run.pk, world.tenant_a1.pk))]
    with tenant_scope(world.tenant_a1):
        entry = ActivityEntry.objects.get(action="reconciliation.requested")
    assert entry.actor == "member-a@example.com"
    # B's tenant is a 404 before anything is queued.
    assert (
        api.post(
            _base(world.tenant_b1), {"period_start": "2026-02-01", "period_end": "2026-02-28"}, format="json"
        ).status_code
        == 404
    )
    assert len(queued_tasks()) == 1
    with tenant_scope(world.tenant_b1):
        assert not ReconciliationRun.objects.exists()


def test_accept_needs_an_admin_and_a_note_and_is_audited(world, api):
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    run_b, amount_b, *_ = run_with_findings(world.tenant_b1)
    url = f"{_base(world.tenant_a1)}{run.pk}/accept/"

    api.force_login(world.member_a)
    assert api.post(url, {"ids": [amount.pk], "note": "fine"}, format="json").status_code == 403

    api.force_login(world.owner_a)
    no_note = api.post(url, {"ids": [amount.pk]}, format="json")
    assert no_note.status_code == 400 and no_note.json()["code"] == "invalid"
    # B's mismatch id under A's run is simply not found among the selection: nothing of B's changes.
    done = api.post(url, {"ids": [amount.pk, amount_b.pk], "note": "Discount given by phone"}, format="json")
    assert done.status_code == 200 and done.json() == {"done": 1, "skipped": {}}
    again = api.post(url, {"ids": [amount.pk], "note": "again"}, format="json").json()
    assert again == {"done": 0, "skipped": {str(amount.pk): "Already accepted."}}

    with tenant_scope(world.tenant_a1):
        amount.refresh_from_db()
        assert amount.state == Mismatch.State.ACCEPTED and amount.note == "Discount given by phone"
        assert amount.acted_by == world.owner_a and amount.acted_at is not None
        entry = ActivityEntry.objects.get(action="reconciliation.mismatch_accepted")
        assert entry.actor == "owner-a@example.com" and entry.after["note"] == "Discount given by phone"
    with tenant_scope(world.tenant_b1):
        amount_b.refresh_from_db()
        assert amount_b.state == Mismatch.State.OPEN


def test_the_api_docs_say_a_request_answers_with_the_pending_runs_id_and_address(world, api):
    api.force_login(world.owner_a)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/tenants/{tenant_id}/reconciliations/"]["post"]
    answer = operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"id", "url", "status", "task_id"} <= set(schema["components"]["schemas"][answer]["properties"])
    assert "pending" in operation["description"] and "url" in operation["description"]
