"""Web pages for a tenant's historical migrations (backfills): start one, follow it, read a dry run's report.

Thin: each view checks who is asking and calls one service; the progress shown is the same as the API's.
"""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from connections.views import page_tenant
from core.errors import ApplicationError, NotFoundError
from sync.models import Backfill
from sync.services import backfill as service
from sync.services.backfill_budget import DEFAULT_BUDGET_SHARE, backfill_progress
from tenants.scoping import tenant_scope


class BackfillForm(forms.Form):
    since = forms.DateField(label="From", help_text="Records dated on or after this day (UTC).")
    entities = forms.MultipleChoiceField(
        choices=[(name, name.capitalize()) for name in service.ENTITIES],
        initial=list(service.ENTITIES),
        widget=forms.CheckboxSelectMultiple,
    )
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Dry run", help_text="Report only: nothing is written to Xero."
    )
    budget_share = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_value=Decimal("1"),
        decimal_places=2,
        initial=DEFAULT_BUDGET_SHARE,
        label="Share of the day's Xero calls",
        help_text="The rest of the day's 5,000 calls is kept for live sync.",
    )


def _backfill(tenant, pk) -> Backfill:
    try:
        return service.backfill_get(tenant=tenant, id=pk)
    except NotFoundError:
        raise Http404("Backfill not found.") from None


@login_required
@require_http_methods(["GET", "POST"])
def backfills(request, tenant_id):
    """The tenant's backfills with their progress, and the form that starts one."""
    principal, tenant = page_tenant(request, tenant_id)
    form = BackfillForm(request.POST or None)
    with tenant_scope(tenant):
        if request.method == "POST":
            if not principal.is_admin:
                messages.error(request, "Only agency owners and admins can start a backfill.")
            elif form.is_valid():
                data = form.cleaned_data
                try:
                    backfill = service.backfill_create(
                        tenant=tenant,
                        since=data["since"],
                        entities=data["entities"],
                        dry_run=data["dry_run"],
                        budget_share=data["budget_share"],
                        requested_by=principal.label,
                    )
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                else:
                    service.backfill_enqueue(backfill=backfill)
                    return redirect("sync:backfill", tenant_id=tenant.pk, pk=backfill.pk)
        rows = [
            backfill_progress(backfill=service.backfill_refresh(backfill=b))
            for b in Backfill.objects.filter(tenant=tenant).order_by("-id")[:50]
        ]
    return render(
        request,
        "sync/backfills.html",
        {"tenant": tenant, "rows": rows, "form": form, "can_manage": principal.is_admin},
    )


@login_required
def backfill_detail(request, tenant_id, pk):
    """One backfill: progress and ETA, and for a dry run what would be created, matched or blocked, and why."""
    principal, tenant = page_tenant(request, tenant_id)
    with tenant_scope(tenant):
        backfill = service.backfill_refresh(backfill=_backfill(tenant, pk))
        progress = backfill_progress(backfill=backfill)
    return render(
        request,
        "sync/backfill.html",
        {
            "tenant": tenant,
            "backfill": backfill,
            "progress": progress,
            "report": backfill.report,
            "can_manage": principal.is_admin,
        },
    )


@login_required
@require_POST
def backfill_cancel(request, tenant_id, pk):
    principal, tenant = page_tenant(request, tenant_id)
    if not principal.is_admin:
        messages.error(request, "Only agency owners and admins can cancel a backfill.")
        return redirect("sync:backfill", tenant_id=tenant.pk, pk=pk)
    with tenant_scope(tenant):
        try:
            service.backfill_cancel(backfill=_backfill(tenant, pk), actor=principal.label)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The backfill is cancelled; what it had not sent yet is discarded.")
    return redirect("sync:backfill", tenant_id=tenant.pk, pk=pk)
