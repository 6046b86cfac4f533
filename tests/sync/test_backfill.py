"""Historical migration: a dry run that reports exactly what would happen and writes nothing to Xero, then the
real run, which goes behind live changes, within its share of the day's Xero calls, and resumes after a crash.

Every test has a second tenant with its own shop and Xero organisation that is never touched.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections.canonical import Contact
from connections.models import ConnectionDailyUsage
from connections.providers.magento.normalize import normalize_order
from connections.providers.xero import accounting
from connections.providers.xero.reference import xero_reference_refresh
from mappings.models import PostingPolicy, TaxMapping
from mappings.services import source_values_observe_many
from mappings.suggestions import suggestions_accept, suggestions_refresh
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sandbox.xero.models import Invoice as XeroInvoice
from sync.models import Backfill, CrossReference, SyncJob
from sync.services import backfill as service
from sync.services.backfill_budget import backfill_progress
from sync.services.backfill_plan import OUTCOMES
from sync.services.drain import drain_run
from sync.services.staging import jobs_stage
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for, xero_client, xero_connection_for

pytestmark = pytest.mark.django_db
END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 10, 2, tzinfo=UTC)  # the last 30 days of a 60-day history


class CountingTransport(SandboxTransport):
    """The sandbox, counting what reaches simulated Xero; optionally the worker dies at the n-th Xero request."""

    def __init__(self, *, die_at_xero_request: int | None = None):
        super().__init__()
        self.xero_requests: list[tuple[str, str]] = []
        self.die_at = die_at_xero_request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/sandbox/xero/api.xro/" in request.url.path:
            self.xero_requests.append((request.method, request.url.path))
            if self.die_at is not None and len(self.xero_requests) >= self.die_at:
                raise RuntimeError("worker killed")
        return super().handle_request(request)

    @property
    def xero_writes(self) -> int:
        return sum(1 for method, _ in self.xero_requests if method in ("POST", "PUT", "DELETE"))


class Shop:
    """A tenant with a sandbox Xero organisation and a Magento store with 60 days of history, mappings accepted."""

    def __init__(self, tenant, *, code: str, orders: int = 24, customers: int = 10):
        self.tenant, self.code = tenant, code
        with tenant_scope(tenant):
            self.xero, self.org = xero_connection_for(tenant, name=f"Org {code}", country="AU")
            xero_reference_refresh(connection=self.xero, client=xero_client(self.xero))
            store = store_create(code=code, currency="AUD", tax_inclusive=True)
            generate(
                account=code,
                seed=7,
                customers=customers,
                orders=orders,
                currency="AUD",
                foreign_share=0.0,
                days=60,
                end=END,
            )
            self.source = magento_connection_for(tenant, store)
            # The tenant configured its mappings from what its orders use.
            source_values_observe_many(source_connection=self.source, records=self.orders())
            suggestions_accept(
                suggestions=suggestions_refresh(source_connection=self.source), actor="owner@example.com"
            )

    def orders(self):
        natives = NativeOrder.objects.filter(store__code=self.code).order_by("entity_id")
        return [normalize_order(n.as_dict()) for n in natives]

    def in_range(self):
        return [o for o in self.orders() if o.created_at >= SINCE]

    def xero_invoices(self):
        return XeroInvoice.objects.filter(org__tenant_id=self.org["tenant_id"], type="ACCREC")


@pytest.fixture
def shops(world):
    mine = Shop(world.tenant_a1, code="histmine")
    other = Shop(world.tenant_b1, code="histother", orders=6, customers=3)
    return mine, other


def _existing_invoice(shop: Shop, order) -> str:
    """An invoice a bookkeeper keyed into Xero by hand before Ledgerbridge, with the order number as Reference."""
    payload = {
        "Type": "ACCREC",
        "Contact": {"Name": "Walk-in customer"},
        "Reference": order.number,
        "Status": "AUTHORISED",
        "LineItems": [{"Description": "Order by hand", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}],
    }
    with tenant_scope(shop.tenant):
        client = xero_client(shop.xero)
        [result] = accounting.save_batch(client, "invoice", [payload], idempotency_key=f"by-hand-{order.number}")
    assert result.ok, result.errors
    return result.xero_id


def _known_mix(shop: Shop):
    """Xero numbering (so invoices are found by Reference), one in-range order already in Xero, one tax key
    unmapped. Returns (expected outcome by order id, the matched invoice id, the unmapped tax code)."""
    with tenant_scope(shop.tenant):
        PostingPolicy.objects.filter(source_connection=shop.source).update(numbering=PostingPolicy.Numbering.XERO)
        orders = [o for o in shop.in_range() if not o.is_cancelled]
        keys = Counter(line.tax_key.code for o in orders for line in o.lines if line.tax_key and line.tax_key.code)
        # The key the fewest open orders use: some orders blocked, most not.
        gap_code = min(keys, key=lambda k: (keys[k], k))
        TaxMapping.objects.filter(source_connection=shop.source, tax_code=gap_code).delete()
    blocked = {o.source_id for o in orders if any(line.tax_key and line.tax_key.code == gap_code for line in o.lines)}
    existing = next(o for o in orders if o.source_id not in blocked)
    xero_id = _existing_invoice(shop, existing)
    expected = {}
    for order in shop.in_range():
        if order.is_cancelled:
            expected[order.source_id] = "skipped"
        elif order.source_id == existing.source_id:
            expected[order.source_id] = "matched"
        elif order.source_id in blocked:
            expected[order.source_id] = "blocked"
        else:
            expected[order.source_id] = "created"
    return expected, (existing.source_id, xero_id), gap_code


def test_dry_run_reports_exactly_what_would_happen_and_writes_nothing_to_xero(shops):
    mine, other = shops
    expected, (matched_order, matched_invoice), gap_code = _known_mix(mine)
    assert set(expected.values()) >= {"created", "matched", "blocked"}
    invoices_before = mine.xero_invoices().count()
    transport = CountingTransport()
    with tenant_scope(mine.tenant):
        backfill = service.backfill_create(tenant=mine.tenant, since=SINCE.date(), entities=["orders"], dry_run=True)
        service.backfill_run(backfill=backfill, transport=transport)
        backfill.refresh_from_db()

        assert backfill.status == Backfill.Status.DONE
        report = backfill.report
        lines = {line["source_id"]: line for line in report["lines"]}
        assert {sid: line["outcome"] for sid, line in lines.items()} == expected
        counts = Counter(expected.values())
        assert report["entities"]["orders"] == {o: counts.get(o, 0) for o in OUTCOMES}
        assert (backfill.total, backfill.created, backfill.matched, backfill.blocked) == (
            len(expected),
            counts["created"],
            1,
            counts["blocked"],
        )
        assert lines[matched_order]["xero_id"] == matched_invoice
        for sid, outcome in expected.items():
            if outcome == "blocked":
                assert any(f"“{gap_code}”" in cause and "not mapped" in cause for cause in lines[sid]["causes"])
        [cause] = report["causes"]  # one thing to fix, with its link
        assert cause["count"] == counts["blocked"] and cause["code"] == "tax_unmapped" and gap_code in cause["fix_url"]
        # Nothing staged, nothing linked, nothing written to Xero; reading it was batched.
        assert not SyncJob.objects.exists()
        assert not CrossReference.objects.exists()
    assert transport.xero_writes == 0
    assert 0 < len(transport.xero_requests) <= 2
    assert mine.xero_invoices().count() == invoices_before
    with tenant_scope(other.tenant):
        assert not Backfill.objects.exists()


def test_real_run_creates_the_new_links_the_matched_and_holds_the_blocked(shops):
    mine, other = shops
    expected, (matched_order, matched_invoice), _ = _known_mix(mine)
    transport = SandboxTransport()
    with tenant_scope(mine.tenant):
        backfill = service.backfill_create(tenant=mine.tenant, since=SINCE.date(), entities=["orders"])
        service.backfill_run(backfill=backfill, transport=transport)
        assert SyncJob.objects.filter(backfill=backfill).exclude(priority=SyncJob.PRIORITY_BACKFILL).count() == 0
        drain_run(xero_connection=mine.xero, transport=transport)
        backfill = service.backfill_refresh(backfill=backfill)

        invoices = {x.source_id: x.xero_id for x in CrossReference.objects.filter(entity="invoice")}
        want = {sid for sid, outcome in expected.items() if outcome in ("created", "matched")}
        assert set(invoices) == want
        assert invoices[matched_order] == matched_invoice  # linked, not created again
        held = SyncJob.objects.filter(backfill=backfill, state=SyncJob.State.NEEDS_ATTENTION, entity="invoice")
        assert {j.source_id for j in held} == {sid for sid, o in expected.items() if o == "blocked"}
        assert backfill.status == Backfill.Status.DONE
        assert backfill.matched == 1 and backfill.blocked == len(held)
        assert backfill.done == backfill.total - backfill.blocked
    by_reference = Counter(mine.xero_invoices().values_list("reference", flat=True))
    in_range = {o.source_id: o.number for o in mine.in_range()}
    assert by_reference[in_range[matched_order]] == 1
    assert all(by_reference[in_range[sid]] == 1 for sid in want)
    with tenant_scope(other.tenant):
        assert not SyncJob.objects.exists() and not CrossReference.objects.exists()
    assert not other.xero_invoices().exists()


def _start(shop: Shop, *, share="0.50", transport=None, entities=("orders",)) -> Backfill:
    with tenant_scope(shop.tenant):
        backfill = service.backfill_create(
            tenant=shop.tenant, since=SINCE.date(), entities=list(entities), budget_share=share
        )
        return service.backfill_run(backfill=backfill, transport=transport or SandboxTransport())


def test_a_live_change_during_a_backfill_goes_first(shops):
    mine, other = shops
    backfill = _start(mine)
    transport = SandboxTransport()
    with tenant_scope(mine.tenant):
        assert SyncJob.objects.filter(backfill=backfill, state=SyncJob.State.PENDING).count() > 2
        live = Contact(source_id="live-1", email="new.customer@example.com", first_name="New", last_name="Customer")
        jobs_stage(source_connection=mine.source, entity="customer", record=live)
        live_job = SyncJob.objects.get(source_id="live-1")
        assert live_job.priority < SyncJob.PRIORITY_BACKFILL and live_job.backfill is None

        report = drain_run(xero_connection=mine.xero, transport=transport, max_batches=1)

        assert report.batches == 1
        assert SyncJob.objects.get(pk=live_job.pk).state == SyncJob.State.DONE
        # Backfill contacts may ride along in that same request (no extra call); no backfill invoice went first.
        invoices = SyncJob.objects.filter(backfill=backfill, operation=SyncJob.Operation.INVOICE_UPSERT)
        assert invoices.exists() and not invoices.exclude(state=SyncJob.State.PENDING).exists()
        # The backfill then carries on by itself.
        drain_run(xero_connection=mine.xero, transport=transport)
        assert not SyncJob.objects.filter(backfill=backfill, state=SyncJob.State.PENDING).exists()
    with tenant_scope(other.tenant):
        assert not SyncJob.objects.exists()


def _calls_made_today(shop: Shop, calls: int) -> None:
    """The organisation has already made `calls` Xero calls today (our per-day counter says so)."""
    with tenant_scope(shop.tenant):
        ConnectionDailyUsage.objects.update_or_create(
            tenant=shop.tenant, connection=shop.xero, day=timezone.now().date(), defaults={"calls": calls}
        )


def _calls_today(shop: Shop) -> int:
    with tenant_scope(shop.tenant):
        return ConnectionDailyUsage.objects.get(connection=shop.xero, day=timezone.now().date()).calls


def test_the_backfill_spends_at_most_its_share_of_the_day_and_live_sync_keeps_flowing(shops):
    mine, other = shops
    backfill = _start(mine, share="0.10")  # 10% of 5,000 calls: 500 a day
    transport = CountingTransport()
    _calls_made_today(mine, 499)  # room for one more backfill batch today
    with tenant_scope(mine.tenant):
        pending = SyncJob.objects.filter(backfill=backfill, state=SyncJob.State.PENDING)
        before, invoices = pending.count(), pending.filter(entity="invoice").count()
        drain_run(xero_connection=mine.xero, transport=transport)
        # One batch went (a write, with the lookups that precede it), then the backfill stopped for today.
        assert transport.xero_writes == 1
        assert 500 <= _calls_today(mine) <= 499 + len(transport.xero_requests)
        sent = before - pending.count()
        assert 0 < sent <= 50 and pending.exists()
        spent = _calls_today(mine)

        live = Contact(source_id="live-2", email="walk.in@example.com", first_name="Walk", last_name="In")
        jobs_stage(source_connection=mine.source, entity="customer", record=live)
        drain_run(xero_connection=mine.xero, transport=transport)
        assert SyncJob.objects.get(source_id="live-2").state == SyncJob.State.DONE  # live is never held back
        assert transport.xero_writes == 2 and _calls_today(mine) > spent
        # Backfill contacts may ride along in the live request (no extra call); no backfill request went.
        assert pending.filter(entity="invoice").count() == invoices > 0

        # The next day (fresh counter) the backfill goes on.
        ConnectionDailyUsage.objects.filter(connection=mine.xero).update(day=timezone.now().date() - timedelta(days=1))
        drain_run(xero_connection=mine.xero, transport=transport)
        assert not pending.exists()
    with tenant_scope(other.tenant):
        assert not SyncJob.objects.exists()


def test_progress_counts_done_over_total_with_an_eta_from_the_remaining_budget(shops):
    mine, other = shops
    backfill = _start(mine, share="0.10", entities=("contacts", "orders"))
    now = datetime.combine(timezone.now().date(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=18)
    with tenant_scope(mine.tenant):
        jobs = SyncJob.objects.filter(backfill=backfill)
        by_operation = Counter(jobs.values_list("operation", flat=True))
        requests = sum(-(-n // 50) for n in by_operation.values())
        backfill = service.backfill_refresh(backfill=backfill)
        assert backfill.total == jobs.count() + backfill.matched + backfill.unchanged
        assert backfill.done == backfill.matched + backfill.unchanged
        with CaptureQueriesContext(connection) as reread:
            assert service.backfill_refresh(backfill=backfill).total == backfill.total
        assert [q["sql"].split()[0] for q in reread.captured_queries] == ["SELECT"]  # nothing changed: no write

        _calls_made_today(mine, 0)
        progress = backfill_progress(backfill=backfill, now=now)
        assert progress["xero_requests_needed"] == requests
        assert progress["eta_seconds"] == requests  # 60 a minute, well within today's 500
        assert progress["percent"] == round(100 * backfill.done / backfill.total, 1)

        _calls_made_today(mine, 500)  # today's share spent: it waits for tomorrow, then 60 a minute
        progress = backfill_progress(backfill=backfill, now=now)
        assert progress["eta_seconds"] == 6 * 3600 + requests

        _calls_made_today(mine, 0)
        drain_run(xero_connection=mine.xero, transport=SandboxTransport())
        done = backfill_progress(backfill=service.backfill_refresh(backfill=backfill), now=now)
        assert done["status"] == Backfill.Status.DONE
        assert (done["done"], done["percent"], done["xero_requests_needed"]) == (done["total"], 100.0, 0)
        assert done["created"] == jobs.filter(state=SyncJob.State.DONE).count() > 0
    with tenant_scope(other.tenant):
        assert not Backfill.objects.exists()


def test_a_backfill_killed_half_way_resumes_without_staging_anything_twice(world, shops):
    mine, other = shops
    clean = Shop(world.tenant_a2, code="histclean")  # the same history, run without a crash, for comparison
    with tenant_scope(mine.tenant):
        backfill = service.backfill_create(tenant=mine.tenant, since=SINCE.date(), entities=["orders"])
    crashing = CountingTransport(die_at_xero_request=2)  # dies at the second chunk's Xero lookup
    with tenant_scope(mine.tenant), pytest.raises(RuntimeError):
        service.backfill_run(backfill=backfill, transport=crashing, chunk=5)
    with tenant_scope(mine.tenant):
        backfill.refresh_from_db()
        assert backfill.status == Backfill.Status.FAILED
        staged_before = set(SyncJob.objects.filter(backfill=backfill).values_list("id", flat=True))
        assert len(staged_before) > 0

        service.backfill_run(backfill=backfill, transport=SandboxTransport(), chunk=5)
        jobs = list(SyncJob.objects.filter(backfill=backfill).values_list("id", "entity", "source_id", "operation"))
        assert staged_before <= {job[0] for job in jobs}
        assert len({job[1:] for job in jobs}) == len(jobs)
        mine_effects = Counter(job[3] for job in jobs)
    clean_backfill = _start(clean)
    with tenant_scope(clean.tenant):
        clean_effects = Counter(SyncJob.objects.filter(backfill=clean_backfill).values_list("operation", flat=True))
    assert mine_effects == clean_effects
    with tenant_scope(other.tenant):
        assert not SyncJob.objects.exists()


def _url(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.pk}/backfills/{suffix}"


def test_api_refuses_bad_input_with_clear_errors_and_creates_nothing(world, api):
    api.force_login(world.owner_a)
    tenant = world.tenant_a1
    for body, field in (
        ({"since": "2026-13-45"}, "since"),
        ({"since": "last tuesday"}, "since"),
        ({"since": "2026-10-01", "entities": ["orders", "invoices"]}, "entities"),
        ({"since": "2026-10-01", "entities": []}, "entities"),
        ({"since": "2026-10-01", "budget_share": "0"}, "budget_share"),
        ({"since": "2026-10-01", "budget_share": "1.5"}, "budget_share"),
        ({"since": "2026-10-01", "dryrun": True}, "dryrun"),
        ({}, "since"),
    ):
        response = api.post(_url(tenant), body, format="json")
        assert response.status_code == 400, (body, response.content)
        answer = response.json()
        assert answer["code"] == "invalid" and field in answer["extra"]["fields"], (body, answer)
    with tenant_scope(tenant):
        assert not Backfill.objects.exists()


def test_api_creates_follows_and_cancels_a_backfill_of_its_own_tenant_only(world, api):
    from django_q.models import OrmQ

    api.force_login(world.owner_a)
    mine, theirs = world.tenant_a1, world.tenant_b1
    response = api.post(_url(mine), {"since": "2026-10-01", "entities": ["orders", "contacts"]}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "planned" and created["dry_run"] is False
    assert created["since"] == "2026-10-01T00:00:00+00:00" and created["entities"] == ["contacts", "orders"]
    assert created["budget_share"] == "0.50"
    assert OrmQ.objects.count() == 1  # the run waits for a worker

    again = api.post(_url(mine), {"since": "2026-09-01"}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "conflict"
    dry = api.post(_url(mine), {"since": "2026-09-01", "dry_run": True, "budget_share": 0.2}, format="json")
    assert dry.status_code == 201 and dry.json()["budget_share"] == "0.20"

    shown = api.get(_url(mine, f"{created['id']}/")).json()
    assert {"done", "total", "percent", "eta_seconds", "xero_requests_needed"} <= set(shown)
    assert [b["id"] for b in api.get(_url(mine)).json()["results"]] == [dry.json()["id"], created["id"]]

    cancelled = api.post(_url(mine, f"{created['id']}/cancel/"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(_url(mine, f"{created['id']}/cancel/")).json()["code"] == "conflict"

    # Agency B sees none of it, and cannot start one in A's tenant; a member may look but not start.
    api.force_login(world.owner_b)
    assert api.get(_url(mine, f"{created['id']}/")).status_code == 404
    assert api.post(_url(mine), {"since": "2026-10-01"}, format="json").status_code == 404
    assert api.get(_url(theirs)).json()["results"] == []
    api.force_login(world.member_a)
    assert api.get(_url(mine, f"{created['id']}/")).status_code == 200
    assert api.post(_url(mine), {"since": "2026-10-01", "dry_run": True}, format="json").status_code == 403


def test_the_page_starts_a_dry_run_and_shows_its_report(world, client, shops):
    mine, other = shops
    expected, _, gap_code = _known_mix(mine)
    client.force_login(world.owner_a)
    page = f"/sync/tenants/{mine.tenant.pk}/backfills/"
    response = client.post(
        page, {"since": SINCE.date().isoformat(), "entities": ["orders"], "dry_run": "on", "budget_share": "0.5"}
    )
    assert response.status_code == 302
    with tenant_scope(mine.tenant):
        backfill = Backfill.objects.get()
        assert backfill.dry_run and backfill.status == Backfill.Status.PLANNED
        service.backfill_run(backfill=backfill, transport=SandboxTransport())  # what the worker does
    shown = client.get(response["Location"])
    text = shown.content.decode()
    counts = Counter(expected.values())
    assert shown.status_code == 200
    assert f"{counts['blocked']}×" in text and gap_code in text
    assert text.count("<td>blocked</td>") == counts["blocked"] and text.count("<td>matched</td>") == 1
    assert f"{len(expected)} / {len(expected)} done" in text
    # The other agency's tenant is not found, its page and this backfill alike.
    assert client.get(f"/sync/tenants/{other.tenant.pk}/backfills/").status_code == 404
    client.force_login(world.owner_b)
    assert client.get(response["Location"]).status_code == 404


def test_the_command_prints_the_dry_run_report_and_the_real_runs_progress_as_json(world, shops):
    import json
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    mine, other = shops
    expected, _, _ = _known_mix(mine)
    counts = Counter(expected.values())
    slug = f"{mine.tenant.agency.slug}/{mine.tenant.slug}"
    out = StringIO()
    call_command(
        "backfill",
        tenant=slug,
        since=SINCE.date().isoformat(),
        entities="orders",
        dry_run=True,
        json=True,
        transport=SandboxTransport(),
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert (report["dry_run"], report["status"], report["total"]) == (True, "done", len(expected))
    assert (report["created"], report["matched"], report["blocked"]) == (counts["created"], 1, counts["blocked"])
    assert report["report"]["entities"]["orders"]["skipped"] == counts["skipped"]

    out = StringIO()
    call_command(
        "backfill",
        tenant=slug,
        since=SINCE.date().isoformat(),
        entities="orders",
        budget_share="0.25",
        json=True,
        transport=SandboxTransport(),
        stdout=out,
    )
    progress = json.loads(out.getvalue())
    assert (progress["dry_run"], progress["status"], progress["budget_share"]) == (False, "running", "0.25")
    # The matched order is linked and the cancelled ones skipped already; the rest waits for the drain.
    assert progress["done"] == 1 + counts["skipped"] and progress["total"] > progress["done"]
    assert progress["xero_requests_needed"] > 0 and progress["eta_seconds"] > 0

    with pytest.raises(CommandError, match="not a date"):
        call_command("backfill", tenant=slug, since="yesterday-ish", json=True)
    with pytest.raises(CommandError, match="Unknown entities"):
        call_command("backfill", tenant=slug, since="2026-10-01", entities="orders,invoices", json=True)
    with tenant_scope(other.tenant):
        assert not Backfill.objects.exists()


def test_cancelling_discards_what_was_not_sent_and_nothing_more_goes_to_xero(shops):
    mine, other = shops
    backfill = _start(mine)
    transport = CountingTransport()
    with tenant_scope(mine.tenant):
        staged = SyncJob.objects.filter(backfill=backfill).count()
        assert staged > 0
        backfill = service.backfill_cancel(backfill=backfill, actor="owner@example.com")
        assert backfill.status == Backfill.Status.CANCELLED
        discarded = SyncJob.objects.filter(backfill=backfill, state=SyncJob.State.DISCARDED)
        assert discarded.count() == staged
        assert discarded.first().discard_reason == "Backfill cancelled by owner@example.com."
        drain_run(xero_connection=mine.xero, transport=transport)
        assert transport.xero_writes == 0
        # Running it again does nothing: a cancelled backfill stays cancelled.
        assert service.backfill_run(backfill=backfill, transport=transport).status == Backfill.Status.CANCELLED
        assert SyncJob.objects.filter(backfill=backfill).count() == staged
    with tenant_scope(other.tenant):
        assert not SyncJob.objects.exists()


def test_the_backfill_page_accepts_the_smallest_budget_share_the_api_accepts():
    from sync.views import BackfillForm

    def form(share):
        return BackfillForm(data={"since": "2025-01-01", "entities": ["orders"], "budget_share": share})

    assert form("0.01").is_valid() and form("1").is_valid()
    assert not form("0.00").is_valid() and not form("1.01").is_valid()
