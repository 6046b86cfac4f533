"""Django admin is the tenant admins' console: each agency sees and edits only its own rows."""

from django.contrib import admin

from tenants.access import principal_for_user


class AgencyScopedAdmin(admin.ModelAdmin):
    """Base for every admin of agency- or tenant-owned data.

    `agency_field` is the lookup from the model to its agency ("agency", "tenant__agency", or "id" for Agency
    itself); `tenant_field` (when set) also limits rows to the tenants the user may see. Querysets and the choices
    of every foreign key are scoped the same way. Owners and admins edit; members only look.
    """

    agency_field = "agency"
    tenant_field = None

    def _principal(self, request):
        if not hasattr(request, "_admin_principal"):
            request._admin_principal = principal_for_user(request.user, agency_id=request.session.get("agency_id"))
        return request._admin_principal

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        principal = self._principal(request)
        if principal is None:
            return queryset.none()
        queryset = queryset.filter(**{self.agency_field: principal.agency.pk})
        if self.tenant_field and principal.limited_tenant_ids is not None:
            queryset = queryset.filter(**{f"{self.tenant_field}__in": principal.limited_tenant_ids})
        return queryset

    def _scoped_choices(self, request, model):
        model_admin = self.admin_site._registry.get(model)
        if isinstance(model_admin, AgencyScopedAdmin):
            return model_admin.get_queryset(request)
        return None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            choices = self._scoped_choices(request, db_field.related_model)
            if choices is not None:
                kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            choices = self._scoped_choices(request, db_field.related_model)
            if choices is not None:
                kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._principal(request) is not None

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        principal = self._principal(request)
        return principal is not None and principal.is_admin

    has_add_permission = has_change_permission

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)
