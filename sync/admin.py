from django.contrib import admin, messages

from sync.models import (
    Alert,
    AuditEntry,
    CrossReference,
    DeadLetter,
    InboundEvent,
    SyncJob,
    WriteBack,
    WriteBackAttempt,
)
from sync.services import operations, write_backs
from tenants.admin_base import AgencyScopedAdmin


class ReadOnlyTenantAdmin(AgencyScopedAdmin):
    """The engine writes these rows; people read them."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "tenant", "operation", "source_id", "state", "attempts", "cause", "xero_id", "created_at"]
    list_filter = ["state", "operation", "entity"]
    search_fields = ["source_id", "xero_id", "cause"]
    readonly_fields = [f.name for f in SyncJob._meta.fields]
    actions = ["replay", "discard"]

    def has_change_permission(self, request, obj=None):
        # Actions need change permission; the form itself stays read-only through readonly_fields.
        return AgencyScopedAdmin.has_change_permission(self, request, obj)

    @admin.action(description="Replay selected jobs")
    def replay(self, request, queryset):
        count = operations.jobs_replay(actor=request.user.email, job_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} job(s) will be sent again.", messages.SUCCESS)

    @admin.action(description="Discard selected jobs")
    def discard(self, request, queryset):
        count = operations.jobs_discard(
            actor=request.user.email,
            reason=f"Discarded in the console by {request.user.email}",
            job_ids=list(queryset.values_list("id", flat=True)),
        )
        self.message_user(request, f"{count} job(s) discarded.", messages.SUCCESS)


@admin.register(DeadLetter)
class DeadLetterAdmin(SyncJobAdmin):
    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=SyncJob.State.DEAD)


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "tenant", "connection", "source", "kind", "status", "reason", "created_at"]
    list_filter = ["status", "source"]
    search_fields = ["dedupe_key", "reason"]


@admin.register(CrossReference)
class CrossReferenceAdmin(ReadOnlyTenantAdmin):
    list_display = ["tenant", "entity", "source_id", "xero_id", "xero_number", "synced_at"]
    list_filter = ["entity"]
    search_fields = ["source_id", "xero_id", "xero_number"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "tenant", "operation", "entity", "source_id", "xero_id", "outcome", "detail"]
    list_filter = ["outcome", "operation", "entity"]
    search_fields = ["source_id", "xero_id", "detail"]
    date_hierarchy = "created_at"


@admin.register(Alert)
class AlertAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "tenant", "kind", "subject", "recipients"]
    list_filter = ["kind"]
    search_fields = ["subject"]


class WriteBackAttemptInline(admin.TabularInline):
    """The delivery log: every attempt with the answer, its latency and an excerpt."""

    model = WriteBackAttempt
    fields = ["number", "ok", "status_code", "latency_ms", "response_excerpt", "error", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WriteBack)
class WriteBackAdmin(ReadOnlyTenantAdmin):
    """Write-backs to sources and partners; dead letters are the ones filtered by state "Dead letter"."""

    list_display = [
        "id",
        "tenant",
        "kind",
        "event",
        "source_id",
        "connection",
        "state",
        "attempts",
        "cause",
        "created_at",
    ]
    list_filter = ["state", "kind", "event"]
    search_fields = ["source_id", "cause", "key"]
    readonly_fields = [f.name for f in WriteBack._meta.fields]
    inlines = [WriteBackAttemptInline]
    actions = ["replay", "discard"]

    def has_change_permission(self, request, obj=None):
        # Actions need change permission; the form itself stays read-only through readonly_fields.
        return AgencyScopedAdmin.has_change_permission(self, request, obj)

    @admin.action(description="Replay selected write-backs")
    def replay(self, request, queryset):
        count = write_backs.write_backs_replay(
            actor=request.user.email, ids=list(queryset.values_list("id", flat=True))
        )
        self.message_user(request, f"{count} write-back(s) will be sent again.", messages.SUCCESS)

    @admin.action(description="Discard selected write-backs")
    def discard(self, request, queryset):
        count = write_backs.write_backs_discard(
            actor=request.user.email,
            ids=list(queryset.values_list("id", flat=True)),
            reason=f"Discarded in the console by {request.user.email}",
        )
        self.message_user(request, f"{count} write-back(s) discarded.", messages.SUCCESS)
