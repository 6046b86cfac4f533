from django.contrib import admin

from connections import services
from connections.models import Connection
from tenants.admin_base import AgencyScopedAdmin


@admin.register(Connection)
class ConnectionAdmin(AgencyScopedAdmin):
    """Connections are made in onboarding or the API; here admins rename and disconnect them. Secrets never show."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = ["display_name", "provider", "tenant", "status", "last_activity_at", "last_success_at"]
    list_filter = ["provider", "status"]
    search_fields = ["display_name", "external_account_id"]
    fields = [
        "tenant",
        "provider",
        "display_name",
        "status",
        "status_reason",
        "status_changed_at",
        "external_account_id",
        "base_url",
        "has_credentials",
        "last_activity_at",
        "last_success_at",
        "blocked_until",
        "minute_remaining",
        "day_remaining",
        "day_limit_reset_at",
        "xero_settings",
    ]
    readonly_fields = [f for f in fields if f != "display_name"]
    actions = ["disconnect"]

    @admin.display(description="Xero settings (cached)")
    def xero_settings(self, obj):
        if obj.provider != "xero":
            return "—"
        from connections.providers.xero.reference import xero_reference_admin_html
        from tenants.scoping import tenant_scope

        with tenant_scope(obj.tenant_id):
            return xero_reference_admin_html(connection=obj)

    @admin.display(boolean=True, description="credentials stored")
    def has_credentials(self, obj):
        return obj.has_credentials

    def has_add_permission(self, request):
        # Creating needs provider validation and encryption: the onboarding pages and the API do it.
        return False

    def has_delete_permission(self, request, obj=None):
        # Disconnect instead: it revokes and erases the credentials and keeps the history.
        return request.user.is_superuser

    @admin.action(description="Disconnect selected connections")
    def disconnect(self, request, queryset):
        count = 0
        for connection in queryset:
            count += services.connection_disconnect(
                connection=connection, reason=f"Disconnected by {request.user.email}.", actor=request.user.email
            )
        self.message_user(request, f"{count} connection(s) disconnected.")
