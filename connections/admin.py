from django import forms
from django.contrib import admin

from connections import services
from connections.models import Connection, PartnerWebhookEndpoint
from connections.outbound_urls import UnsafeUrl, outbound_url_check
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


class PartnerWebhookEndpointForm(forms.ModelForm):
    # Typed without a scheme, the address means https: deliveries carry signed records and go over TLS.
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = PartnerWebhookEndpoint
        fields = ["url", "events", "is_active"]

    def clean_events(self):
        events = self.cleaned_data["events"]
        allowed = set(PartnerWebhookEndpoint.Event.values)
        if not isinstance(events, list) or not events or not set(events) <= allowed:
            raise forms.ValidationError(f"A list of one or more of: {', '.join(sorted(allowed))}.")
        return sorted(set(events))

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            outbound_url_check(url)
        except UnsafeUrl as exc:
            raise forms.ValidationError(exc.message) from exc
        return url


@admin.register(PartnerWebhookEndpoint)
class PartnerWebhookEndpointAdmin(AgencyScopedAdmin):
    """Where partner connections receive our events. Created through the API, which shows the signing secret once;
    here admins change the URL and events or pause deliveries. The secret never shows."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = ["connection", "tenant", "url", "events", "is_active", "updated_at"]
    list_filter = ["is_active"]
    form = PartnerWebhookEndpointForm
    fields = ["tenant", "connection", "url", "events", "is_active"]
    readonly_fields = ["tenant", "connection"]

    def has_add_permission(self, request):
        return False
