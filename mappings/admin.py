"""Django admin for mappings: tenant-scoped, Xero values as dropdowns, every change audited."""

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from connections.canonical import from_json
from core.errors import ApplicationError
from mappings import models, services
from mappings.admin_forms import PURPOSE_SLOTS, MappingForm, scoped_tenants, tenants_for_form
from mappings.preview import invoice_preview, transform_preview
from mappings.selectors import source_connections
from mappings.suggestions import suggestion_dismiss, suggestions_accept, suggestions_refresh
from tenants.admin_base import AgencyScopedAdmin


class MappingAdmin(AgencyScopedAdmin):
    """Base: scoped to the user's tenants, the tenant taken from the source connection, saves audited."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    form = MappingForm
    xero_fields: dict[str, str] = {}
    optional_xero_fields: tuple[str, ...] = ()
    exclude = ["tenant"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        tenants = tenants_for_form(request, obj, scoped_tenants(request, self._principal(request)))
        return type(
            base.__name__,
            (base,),
            {"xero_fields": self.xero_fields, "optional_xero_fields": self.optional_xero_fields, "tenants": tenants},
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "source_connection" and field is not None:
            field.queryset = field.queryset.exclude(provider="xero")
        return field

    def save_model(self, request, obj, form, change):
        before = services.mapping_snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        services.mapping_save(instance=obj, actor=request.user.email, before=before)

    def delete_model(self, request, obj):
        services.mapping_delete(instance=obj, actor=request.user.email)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.mapping_delete(instance=obj, actor=request.user.email)


@admin.register(models.TaxMapping)
class TaxMappingAdmin(MappingAdmin):
    list_display = ["tax_code", "tax_label", "source_percent", "xero_tax_type", "rate_override", "source_connection"]
    list_filter = ["source_connection"]
    search_fields = ["tax_code", "tax_label", "xero_tax_type"]
    xero_fields = {"xero_tax_type": "tax"}


@admin.register(models.AccountRule)
class AccountRuleAdmin(MappingAdmin):
    list_display = ["position", "name", "category", "sku_pattern", "product_type", "account_code", "is_active"]
    list_editable = ["position", "is_active"]
    list_display_links = ["name"]
    exclude = []
    fields = [
        "tenant",
        "source_connection",
        "position",
        "name",
        ("category", "sku_pattern", "product_type"),
        ("store", "channel", "customer_group"),
        "account_code",
        "is_active",
    ]
    xero_fields = {"account_code": "account:sales"}


@admin.register(models.PaymentAccountMapping)
class PaymentAccountMappingAdmin(MappingAdmin):
    list_display = ["payment_method", "currency", "account_code", "source_connection"]
    list_filter = ["source_connection"]
    xero_fields = {"account_code": "account:payment"}


@admin.register(models.TrackingMapping)
class TrackingMappingAdmin(MappingAdmin):
    list_display = ["position", "source_attribute", "source_value", "xero_category", "xero_option", "source_connection"]
    list_display_links = ["source_attribute"]
    xero_fields = {"xero_category": "tracking_category", "xero_option": "tracking_option"}
    optional_xero_fields = ("xero_option",)


@admin.register(models.ItemMapping)
class ItemMappingAdmin(MappingAdmin):
    list_display = ["sku", "item_code", "source_connection"]
    search_fields = ["sku", "item_code"]


@admin.register(models.ContactPolicy)
class ContactPolicyAdmin(MappingAdmin):
    list_display = ["source_connection", "name_collision", "account_number", "contacts_from_xero"]


@admin.register(models.SystemOfRecord)
class SystemOfRecordAdmin(MappingAdmin):
    list_display = ["field_group", "owner", "source_connection"]
    list_filter = ["source_connection"]


@admin.register(models.PostingPolicy)
class PostingPolicyAdmin(MappingAdmin):
    list_display = ["source_connection", "invoice_status", "numbering", "sales_account_code", "rounding_account_code"]
    xero_fields = {**PURPOSE_SLOTS, "rounding_tax_type": "tax"}
    optional_xero_fields = tuple(PURPOSE_SLOTS) + ("rounding_tax_type",)


@admin.register(models.FieldTransform)
class FieldTransformAdmin(MappingAdmin):
    list_display = ["position", "source_field", "target", "transform", "is_active", "source_connection"]
    list_display_links = ["source_field"]
    readonly_fields = ["preview"]

    @admin.display(description="preview on a recent record")
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "Save to preview on a recent record."
        shown = transform_preview(transform=obj)
        if shown is None:
            return "No recent record of this source yet."
        return format_html("“{}” → “{}” <small>({})</small>", shown["value"], shown["result"], shown["record"])


@admin.register(models.SourceValue)
class SourceValueAdmin(AgencyScopedAdmin):
    """What the sources showed; read-only, the starting point of suggestions and health."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = ["kind", "value", "label", "percent", "currency", "last_seen_at", "seen_count", "source_connection"]
    list_filter = ["kind"]
    search_fields = ["value", "label"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.MappingSuggestion)
class MappingSuggestionAdmin(AgencyScopedAdmin):
    """Suggestions apply only when accepted, one by one or in bulk."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = ["label", "proposed", "reason", "status", "decided_by"]
    list_filter = ["status", "kind"]
    actions = ["accept", "dismiss"]
    change_list_template = "mappings/suggestion_changelist.html"

    @admin.display(description="proposed")
    def proposed(self, obj):
        proposal = obj.proposal or {}
        created = proposal.get("create_tax_rate") or {}
        if created:
            return f"new Xero rate “{created.get('Name')}”"
        return proposal.get("xero_tax_type") or proposal.get("account_code") or ""

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_urls(self):
        refresh = path("refresh/", self.admin_site.admin_view(self.refresh_view), name="mappings_suggestion_refresh")
        return [refresh, *super().get_urls()]

    def refresh_view(self, request):
        if request.method != "POST" or not self.has_change_permission(request):
            return redirect("admin:mappings_mappingsuggestion_changelist")
        total = 0
        for tenant in scoped_tenants(request, self._principal(request)):
            for source in source_connections(tenant=tenant):
                try:
                    total += len(suggestions_refresh(source_connection=source))
                except ApplicationError as exc:
                    self.message_user(request, f"{tenant.name}: {exc.message}", messages.WARNING)
                    break
        self.message_user(request, f"{total} open suggestion(s).")
        return redirect("admin:mappings_mappingsuggestion_changelist")

    @admin.action(description="Accept selected suggestions")
    def accept(self, request, queryset):
        outcome = suggestions_accept(suggestions=queryset.filter(status="open"), actor=request.user.email)
        self.message_user(request, f"{outcome['accepted']} suggestion(s) accepted.")
        for refused in outcome["refused"]:
            self.message_user(request, f"Suggestion {refused['id']}: {refused['reason']}", messages.WARNING)

    @admin.action(description="Dismiss selected suggestions")
    def dismiss(self, request, queryset):
        for suggestion in queryset.filter(status="open"):
            suggestion_dismiss(suggestion=suggestion, actor=request.user.email)
        self.message_user(request, "Dismissed.")


@admin.register(models.SampleRecord)
class SampleRecordAdmin(AgencyScopedAdmin):
    """Recent source orders; opening one previews the exact Xero invoice with each line's rule."""

    agency_field = "tenant__agency"
    tenant_field = "tenant"
    list_display = ["label", "entity", "source_connection", "seen_at", "preview_link"]
    list_filter = ["entity"]
    search_fields = ["label", "source_id"]

    @admin.display(description="Xero preview")
    def preview_link(self, obj):
        url = reverse("admin:mappings_samplerecord_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview invoice</a>', url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        preview = path(
            "<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="mappings_samplerecord_preview"
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request, pk):
        sample = get_object_or_404(self.get_queryset(request), pk=pk, entity="order")
        order = from_json("order", sample.record)
        preview = invoice_preview(source_connection=sample.source_connection, order=order)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Xero invoice preview — order {sample.label}",
            "sample": sample,
            "preview": preview,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "mappings/preview.html", context)
