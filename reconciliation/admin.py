from django.contrib import admin, messages

from reconciliation.models import Mismatch, ReconciliationPolicy, ReconciliationRun
from reconciliation.services.actions import mismatches_resync
from sync.admin import ReadOnlyTenantAdmin
from tenants.admin_base import AgencyScopedAdmin


@admin.register(ReconciliationPolicy)
class ReconciliationPolicyAdmin(AgencyScopedAdmin):
    """When each tenant is reconciled (its local time) and whether records missing in Xero heal by themselves."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = [
        "tenant",
        "frequency",
        "weekday",
        "local_time",
        "lookback_days",
        "auto_heal_missing",
        "last_scheduled_run_at",
    ]
    list_filter = ["frequency", "auto_heal_missing"]
    readonly_fields = ["last_scheduled_run_at"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "started_at",
        "tenant",
        "period_start",
        "period_end",
        "trigger",
        "status",
        "mismatch_count",
        "xero_calls",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["tenant"]
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
    date_hierarchy = "started_at"


@admin.register(Mismatch)
class MismatchAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id",
        "tenant",
        "run",
        "kind",
        "entity",
        "source_label",
        "source_value",
        "xero_value",
        "difference",
        "state",
    ]
    list_filter = ["kind", "entity", "state"]
    list_select_related = ["tenant", "run"]
    search_fields = ["source_id", "source_label", "xero_id", "xero_label"]
    readonly_fields = [f.name for f in Mismatch._meta.fields]
    actions = ["resync"]

    def has_change_permission(self, request, obj=None):
        # Actions need change permission; the form itself stays read-only through readonly_fields.
        return AgencyScopedAdmin.has_change_permission(self, request, obj)

    @admin.action(description="Resync selected mismatches")
    def resync(self, request, queryset):
        done = skipped = 0
        for run in {m.run for m in queryset.select_related("run")}:
            ids = [m.pk for m in queryset if m.run_id == run.pk]
            result = mismatches_resync(run=run, ids=ids, actor=request.user.email, user=request.user)
            done, skipped = done + result.done, skipped + len(result.skipped)
        self.message_user(
            request, f"{done} record(s) will be sent to Xero again; {skipped} left as they were.", messages.SUCCESS
        )
