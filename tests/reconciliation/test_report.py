"""The HTML report, the run list with its chart and "Run now", and the CSV download, as a signed-in user sees them."""

import csv
import io
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from reconciliation.models import Mismatch, ReconciliationRun
from tenants.scoping import tenant_scope
from tests.factories import MismatchFactory, ReconciliationRunFactory
from tests.reconciliation.surfaces import queued_tasks, run_with_findings

pytestmark = pytest.mark.django_db


def _report(client, tenant, run, query=""):
    return client.get(f"/reconciliation/tenants/{tenant.pk}/runs/{run.pk}/{query}")


def _text(response) -> str:
    return unescape(response.content.decode())


def test_the_report_shows_counts_totals_and_both_sides_of_each_mismatch(world, client):
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    run_with_findings(world.tenant_b1, label_prefix="#B-")
    client.force_login(world.owner_a)

    page = _report(client, world.tenant_a1, run)
    assert page.status_code == 200
    html = _text(page)
    # Counts per class, and how many need action (the rounding line is informational).
    assert "<strong>3</strong> mismatches, <strong>2</strong> need action" in html
    assert "Amount differs" in html and "Missing in Xero" in html and "Rounding adjustment applied" in html
    # Totals per side per entity, with Xero − source.
    assert "15230.40" in html and "15217.90" in html and "-12.50" in html
    # Each mismatch: both values, the difference, the detail and the suggested action, and where to look.
    assert "110.00" in html and "97.50" in html and "INV-0042" in html
    assert amount.detail in html and amount.suggested_action in html
    assert "Order #1002 has no invoice in Xero." in html
    assert f"/admin/sync/auditentry/?entity__exact=invoice&q={amount.source_id}" in html
    assert f"/admin/sync/crossreference/?entity__exact=invoice&q={amount.source_id}" in html
    # The other tenant's findings never show.
    assert "#B-1001" not in html
    # Owners act on selected mismatches.
    assert 'name="ids"' in html and 'value="resync"' in html and 'value="accept"' in html


def test_the_report_filters_and_sorts_mismatches(world, client):
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    client.force_login(world.owner_a)

    only_missing = _text(_report(client, world.tenant_a1, run, "?kind=missing_in_xero"))
    assert "#1002" in only_missing and "#1001" not in only_missing and "#1003" not in only_missing

    largest_first = _text(_report(client, world.tenant_a1, run, "?sort=-difference"))
    # -12.50 is the largest difference whatever its sign, then 0.01, and the one without an amount last.
    assert largest_first.index("#1001") < largest_first.index("#1003") < largest_first.index("#1002")
    by_label_desc = _text(_report(client, world.tenant_a1, run, "?sort=-source_label"))
    assert by_label_desc.index("#1003") < by_label_desc.index("#1002") < by_label_desc.index("#1001")

    with tenant_scope(world.tenant_a1):
        Mismatch.objects.filter(pk=amount.pk).update(state=Mismatch.State.ACCEPTED)
    accepted = _text(_report(client, world.tenant_a1, run, "?state=accepted"))
    assert "#1001" in accepted and "#1002" not in accepted

    nonsense = _report(client, world.tenant_a1, run, "?kind=everything")
    assert nonsense.status_code == 302  # back to the unfiltered report with the reason shown


def test_the_report_pages_through_many_mismatches(world, client):
    with tenant_scope(world.tenant_a1):
        run = ReconciliationRunFactory(tenant=world.tenant_a1, mismatch_count=60)
        MismatchFactory.create_batch(60, tenant=world.tenant_a1, run=run)
    client.force_login(world.owner_a)
    first = _text(_report(client, world.tenant_a1, run))
    assert first.count('name="ids"') == 50 and "Page 1 of 2" in first
    second = _text(_report(client, world.tenant_a1, run, "?page=2"))
    assert second.count('name="ids"') == 10


def test_another_tenants_run_is_a_404_and_members_only_read(world, client):
    run_a, *_ = run_with_findings(world.tenant_a1)
    run_b, *_ = run_with_findings(world.tenant_b1)
    client.force_login(world.owner_a)
    assert _report(client, world.tenant_b1, run_b).status_code == 404
    assert _report(client, world.tenant_a1, run_b).status_code == 404  # A's tenant, B's run id
    assert client.get(f"/reconciliation/tenants/{world.tenant_a1.pk}/runs/{run_b.pk}/csv/").status_code == 404
    assert client.get(f"/reconciliation/tenants/{world.tenant_b1.pk}/").status_code == 404

    client.force_login(world.member_a)
    page = _text(_report(client, world.tenant_a1, run_a))
    assert "Amount differs" in page and 'name="ids"' not in page
    assert _report(client, world.tenant_a2, run_a).status_code == 404  # limited to A One


def test_the_csv_has_a_header_one_row_per_mismatch_and_plain_decimals(world, client):
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    with tenant_scope(world.tenant_a1):
        MismatchFactory(
            tenant=world.tenant_a1,
            run=run,
            source_label='=HYPERLINK("http://evil")',
            source_value="1234.50",
            xero_value="-1234.50",
            difference="-2469.0000",
        )
    run_with_findings(world.tenant_b1, label_prefix="#B-")
    client.force_login(world.owner_a)

    response = client.get(f"/reconciliation/tenants/{world.tenant_a1.pk}/runs/{run.pk}/csv/")
    assert response.status_code == 200
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4
    by_label = {row["source_label"]: row for row in rows}
    assert set(by_label) == {"#1001", "#1002", "#1003", '\'=HYPERLINK("http://evil")'}
    assert by_label["#1001"]["difference"] == "-12.50"
    assert by_label["#1001"]["source_value"] == "110.00" and by_label["#1001"]["xero_value"] == "97.50"
    assert by_label["#1001"]["class"] == "Amount differs" and by_label["#1001"]["state"] == "open"
    assert by_label["#1002"]["difference"] == "" and by_label["#1002"]["source_value"] == "1234.50"
    assert by_label["#1003"]["difference"] == "0.01"
    formula = by_label['\'=HYPERLINK("http://evil")']
    # A negative amount stays a plain number; a label that a spreadsheet would run is defused.
    assert formula["difference"] == "-2469.00" and formula["xero_value"] == "-1234.50"


def test_the_run_list_charts_mismatches_across_runs_and_runs_now(world, client):
    now = timezone.now()
    with tenant_scope(world.tenant_a1):
        for days_ago, count in ((3, 7), (2, 4), (1, 0)):
            ReconciliationRunFactory(
                tenant=world.tenant_a1, started_at=now - timedelta(days=days_ago), mismatch_count=count
            )
    with tenant_scope(world.tenant_b1):
        ReconciliationRunFactory(tenant=world.tenant_b1, mismatch_count=99)
    client.force_login(world.owner_a)

    html = _text(client.get(f"/reconciliation/tenants/{world.tenant_a1.pk}/"))
    assert html.count('<rect class="bar') == 3
    assert "7 mismatches" in html and "4 mismatches" in html and "0 mismatches" in html
    assert "99" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert f'action="/reconciliation/tenants/{world.tenant_a1.pk}/run/"' in html

    queued = client.post(
        f"/reconciliation/tenants/{world.tenant_a1.pk}/run/", {"period_start": "2026-01-01", "period_end": "2026-01-31"}
    )
    assert queued.status_code == 302
    with tenant_scope(world.tenant_a1):
        queued_run = ReconciliationRun.objects.get(status=ReconciliationRun.Status.PENDING)
    assert (queued_run.period_start.isoformat(), queued_run.requested_by) == ("2026-01-01", world.owner_a)
    assert queued_tasks() == [("reconciliation.tasks.reconciliation_run_task", (queued_run.pk, world.tenant_a1.pk))]
    assert f"Reconciliation #{queued_run.pk} of 01 Jan 2026" in _text(client.get(queued.url))
    future = (now + timedelta(days=3)).date().isoformat()
    refused = client.post(
        f"/reconciliation/tenants/{world.tenant_a1.pk}/run/",
        {"period_start": "2026-01-01", "period_end": future},
        follow=True,
    )
    assert "cannot end after today" in _text(refused)
    assert len(queued_tasks()) == 1
    # Another agency's tenant cannot be run at all.
    assert (
        client.post(
            f"/reconciliation/tenants/{world.tenant_b1.pk}/run/",
            {"period_start": "2026-01-01", "period_end": "2026-01-31"},
        ).status_code
        == 404
    )
    assert len(queued_tasks()) == 1
