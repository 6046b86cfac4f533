"""Reconciliation web pages: a tenant's runs with a chart and "Run now", a run's report with its mismatches, the
CSV download, and the resync / accept actions. Thin: each view checks who is asking and calls one selector or
service; access is checked exactly as on the connections pages."""

import calendar
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from connections.views import page_tenant
from core.errors import ApplicationError, NotFoundError
from reconciliation import selectors
from reconciliation.models import Mismatch
from reconciliation.reports import csv_response, mismatch_chart_svg
from reconciliation.services.actions import mismatches_accept, mismatches_resync
from reconciliation.services.requests import default_period, reconciliation_request
from tenants.scoping import tenant_scope

RUNS_PER_PAGE = 25
MISMATCHES_PER_PAGE = 50
CHART_RUNS = 30
FILTERS = ("kind", "entity", "state", "sort")


class PeriodForm(forms.Form):
    period_start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))


def _run(tenant, pk):
    try:
        return selectors.run_get(tenant=tenant, id=pk)
    except NotFoundError:
        raise Http404("Run not found.") from None


@login_required
@require_GET
def runs(request, tenant_id):
    """The tenant's runs, newest first, a chart of mismatches across the recent ones, and "Run now"."""
    principal, tenant = page_tenant(request, tenant_id)
    with tenant_scope(tenant):
        policy = selectors.policy_get(tenant=tenant)
        all_runs = selectors.run_list(tenant=tenant)
        page = Paginator(all_runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
        chart = mismatch_chart_svg(runs=list(all_runs[:CHART_RUNS])[::-1])
        start, end = default_period(tenant=tenant, lookback_days=policy.lookback_days)
    return render(
        request,
        "reconciliation/runs.html",
        {
            "tenant": tenant,
            "policy": policy,
            "weekday_name": calendar.day_name[policy.weekday % 7],
            "page": page,
            "chart": chart,
            "form": PeriodForm(initial={"period_start": start, "period_end": end}),
        },
    )


@login_required
@require_POST
def run_now(request, tenant_id):
    """Queue an on-demand run for the chosen period."""
    principal, tenant = page_tenant(request, tenant_id)
    form = PeriodForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the period with two dates.")
        return redirect("reconciliation:runs", tenant_id=tenant.pk)
    start, end = form.cleaned_data["period_start"], form.cleaned_data["period_end"]
    try:
        with tenant_scope(tenant):
            run, _ = reconciliation_request(
                tenant=tenant,
                period_start=start,
                period_end=end,
                actor=principal.label,
                requested_by=request.user,
            )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Reconciliation #{run.pk} of {start:%d %b %Y} – {end:%d %b %Y} is queued; it runs shortly."
        )
    return redirect("reconciliation:runs", tenant_id=tenant.pk)


def _audit_links(request, tenant, mismatch: Mismatch) -> dict:
    """Where to read the record's history: the console for staff, the audit API for everyone else."""
    key = mismatch.source_id or mismatch.xero_id
    if request.user.is_staff:
        query = urlencode({"entity__exact": mismatch.entity, "q": key})
        return {
            "audit": f"{reverse('admin:sync_auditentry_changelist')}?{query}",
            "xref": f"{reverse('admin:sync_crossreference_changelist')}?{query}",
        }
    field = "source_id" if mismatch.source_id else "xero_id"
    base = reverse("tenant-audit-list", kwargs={"tenant_id": tenant.pk})
    return {"audit": f"{base}?{urlencode({'entity': mismatch.entity, field: key})}", "xref": None}


@login_required
@require_GET
def report(request, tenant_id, pk):
    """A run's report: counts per class and per entity, both sides' totals, and its mismatches filterable by
    kind, entity and state, sortable by kind, amount difference and source label, paginated."""
    principal, tenant = page_tenant(request, tenant_id)
    chosen = {name: request.GET.get(name, "") for name in FILTERS}
    with tenant_scope(tenant):
        run = _run(tenant, pk)
        summary = selectors.run_report(run=run)
        try:
            mismatches = selectors.mismatch_list(run=run, **{k: v or None for k, v in chosen.items()})
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("reconciliation:report", tenant_id=tenant.pk, pk=run.pk)
        page = Paginator(mismatches.select_related("acted_by"), MISMATCHES_PER_PAGE).get_page(request.GET.get("page"))
        rows = [(m, _audit_links(request, tenant, m)) for m in page]
    query = urlencode({k: v for k, v in chosen.items() if v})
    return render(
        request,
        "reconciliation/report.html",
        {
            "tenant": tenant,
            "run": run,
            "summary": summary,
            "page": page,
            "rows": rows,
            "chosen": chosen,
            "query": query,
            "kinds": Mismatch.Kind.choices,
            "entities": [(e, selectors.ENTITY_LABELS[e]) for e in selectors.ENTITIES],
            "states": Mismatch.State.choices,
            "sorts": [
                ("kind", "Class"),
                ("-difference", "Largest difference first"),
                ("difference", "Smallest difference first"),
                ("source_label", "Source label A–Z"),
                ("-source_label", "Source label Z–A"),
            ],
            "can_act": principal.is_admin,
        },
    )


@login_required
@require_GET
def report_csv(request, tenant_id, pk):
    """The run's mismatches as a CSV download, streamed."""
    principal, tenant = page_tenant(request, tenant_id)
    with tenant_scope(tenant):
        run = _run(tenant, pk)
    # The rows are read while the response streams, after this view has returned (reports.mismatches_csv).
    return csv_response(run)


@login_required
@require_POST
def act(request, tenant_id, pk):
    """Resync or accept (with a note) the selected mismatches; owners and admins only."""
    principal, tenant = page_tenant(request, tenant_id)
    back = reverse("reconciliation:report", kwargs={"tenant_id": tenant.pk, "pk": pk})
    # Back to the same filtered view; only the report's own filters are carried, never anything else.
    query = urlencode({k: v for k, v in QueryDict(request.POST.get("query", "")).items() if k in FILTERS and v})
    back = f"{back}?{query}" if query else back
    if not principal.is_admin:
        messages.error(request, "Only agency owners and admins can resync or accept mismatches.")
        return redirect(back)
    ids = [int(value) for value in request.POST.getlist("ids") if value.isdigit()]
    with tenant_scope(tenant):
        run = _run(tenant, pk)
        try:
            if request.POST.get("action") == "accept":
                result = mismatches_accept(
                    run=run, ids=ids, note=request.POST.get("note", ""), actor=principal.label, user=request.user
                )
                done = f"{result.done} mismatch{'es' if result.done != 1 else ''} accepted."
            elif request.POST.get("action") == "resync":
                result = mismatches_resync(run=run, ids=ids, actor=principal.label, user=request.user)
                done = f"{result.done} record{'s' if result.done != 1 else ''} will be sent to Xero again."
            else:
                raise ApplicationError("Choose Resync or Accept.", code="invalid")
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(back)
    messages.success(request, done)
    for mismatch_id, reason in result.skipped.items():
        messages.warning(request, f"Mismatch {mismatch_id}: {reason}")
    return redirect(back)
