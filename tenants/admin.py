from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants import services
from tenants.admin_base import AgencyScopedAdmin
from tenants.models import ActivityEntry, Agency, ApiKey, Invitation, Membership, Tenant, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Platform operators only: agency admins manage people through members and invitations."""

    ordering = ["email"]
    list_display = ["email", "is_staff", "is_superuser", "is_active", "date_joined"]
    search_fields = ["email"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission


@admin.register(Agency)
class AgencyAdmin(AgencyScopedAdmin):
    agency_field = "id"
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["slug"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Tenant)
class TenantAdmin(AgencyScopedAdmin):
    agency_field = "agency"
    tenant_field = "id"
    list_display = ["name", "agency", "country", "base_currency", "timezone", "is_active"]
    list_filter = ["is_active", "country"]
    search_fields = ["name", "slug"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        action = "tenant.updated" if change else "tenant.created"
        services.activity_record(
            tenant=obj,
            actor=request.user.email,
            action=action,
            subject=obj.name,
            after={f: form.cleaned_data.get(f) for f in form.changed_data if f != "agency"},
        )


@admin.register(Membership)
class MembershipAdmin(AgencyScopedAdmin):
    list_display = ["user", "agency", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email"]
    filter_horizontal = ["limited_to_tenants"]

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["user", "agency"] if obj else []

    def has_add_permission(self, request):
        # Members join through invitations, which check the email address.
        return request.user.is_superuser


@admin.register(Invitation)
class InvitationAdmin(AgencyScopedAdmin):
    list_display = ["email", "agency", "role", "expires_at", "accepted_at"]
    readonly_fields = ["email", "agency", "role", "expires_at", "accepted_at", "invited_by"]
    exclude = ["limited_to_tenants"]

    def has_add_permission(self, request):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(AgencyScopedAdmin):
    list_display = ["name", "agency", "prefix", "read_only", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at", "created_by"]
    exclude = ["secret_hash"]
    filter_horizontal = ["limited_to_tenants"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Keys are created in the dashboard or API, which show the secret once.
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)


@admin.register(ActivityEntry)
class ActivityEntryAdmin(AgencyScopedAdmin):
    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = ["created_at", "tenant", "actor", "action", "subject"]
    list_filter = ["action"]
    search_fields = ["actor", "subject"]
    readonly_fields = ["tenant", "actor", "action", "subject", "before", "after", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
