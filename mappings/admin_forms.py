"""Admin forms for mappings: Xero values are dropdowns from the tenant's cached Xero settings, checked on save."""

from django import forms
from django.core.exceptions import ValidationError

from connections.providers.xero.reference import xero_reference_get
from mappings.checks import mapping_problems
from mappings.rules import PURPOSE_BY_SLOT
from mappings.selectors import xero_connection_for
from mappings.validation import (
    account_problem,
    describe_account,
    describe_tax_rate,
    is_payment_account,
)
from tenants.models import Tenant


def _tax_choices(ref):
    return [(r["TaxType"], describe_tax_rate(r)) for r in ref.active_tax_rates()]


def _account_choices(ref, purpose):
    accounts = ref.active_accounts()
    if purpose == "payment":
        accounts = [a for a in accounts if is_payment_account(a)]
    else:
        accounts = [a for a in accounts if account_problem(ref, a.get("Code", ""), purpose=purpose) is None]
    return [(a["Code"], describe_account(a)) for a in accounts]


def _tracking_category_choices(ref):
    return [(c["Name"], c["Name"]) for c in ref.active_tracking_categories()]


def _tracking_option_choices(ref):
    return [
        (o["Name"], f"{c['Name']}: {o['Name']}")
        for c in ref.active_tracking_categories()
        for o in c.get("Options") or []
        if o.get("Status", "ACTIVE") == "ACTIVE"
    ]


CHOICE_BUILDERS = {
    "tax": _tax_choices,
    "tracking_category": _tracking_category_choices,
    "tracking_option": _tracking_option_choices,
}


def xero_choices(tenants, kind: str) -> list:
    """Dropdown choices from each tenant's cached Xero settings; grouped by tenant when there are several."""
    groups = []
    for tenant in tenants:
        xero = xero_connection_for(tenant=tenant)
        if xero is None:
            continue
        ref = xero_reference_get(connection=xero)
        if ref.is_empty:
            continue
        if kind.startswith("account:"):
            options = _account_choices(ref, kind.split(":", 1)[1])
        else:
            options = CHOICE_BUILDERS[kind](ref)
        groups.append((f"{tenant.name} — {xero.display_name}", options))
    if len(groups) == 1:
        return groups[0][1]
    return groups


class MappingForm(forms.ModelForm):
    """Sets the tenant from the source connection, offers Xero choices, and refuses what Xero would refuse."""

    # field name → choice kind ("tax", "account:<purpose>", "payment" → "account:payment", "tracking_category", …)
    xero_fields: dict[str, str] = {}
    optional_xero_fields: tuple[str, ...] = ()
    tenants = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, kind in self.xero_fields.items():
            if name not in self.fields:
                continue
            model_field = self.fields[name]
            choices = xero_choices(self.tenants, kind)
            current = self.initial.get(name) or getattr(self.instance, name, "")
            flat = [value for group in choices for value in (group[1] if isinstance(group[1], list) else [group])]
            known = {c[0] if isinstance(c, tuple) else c for c in flat}
            if current and current not in known:
                choices = [(current, f"{current} (not offered by Xero now)"), *choices]
            blank = [("", "———")] if name in self.optional_xero_fields or not model_field.required else []
            self.fields[name] = forms.ChoiceField(
                choices=blank + list(choices),
                required=model_field.required,
                label=model_field.label,
                help_text=model_field.help_text
                or ("Choices come from the tenant's Xero settings; refresh them if one is missing."),
            )

    def _assign_tenant(self):
        source = self.cleaned_data.get("source_connection")
        if source is not None and "tenant" not in self.fields:
            self.instance.tenant = source.tenant
        elif self.cleaned_data.get("tenant") is not None:
            self.instance.tenant = self.cleaned_data["tenant"]

    def _post_clean(self):
        self._assign_tenant()
        super()._post_clean()
        if self.errors or self.instance.tenant_id is None:
            return
        for field, messages in mapping_problems(self.instance).items():
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message)
        try:
            # Unique constraints lead with the tenant, which the form sets itself, so Django skipped them.
            self.instance.validate_constraints()
        except ValidationError as exc:
            self.add_error(None, exc)


def tenants_for_form(request, obj, scoped_tenants):
    """Whose Xero choices to offer: the object's tenant, the tenant of ?source_connection=, else every visible one."""
    if obj is not None and obj.tenant_id:
        return [obj.tenant]
    source_id = request.GET.get("source_connection")
    if source_id and source_id.isdigit():
        from connections.models import Connection

        source = Connection.objects.filter(pk=int(source_id)).select_related("tenant").first()
        if source is not None and source.tenant_id in {t.pk for t in scoped_tenants}:
            return [source.tenant]
    return list(scoped_tenants)


def scoped_tenants(request, principal):
    if request.user.is_superuser:
        return Tenant.objects.all()
    if principal is None:
        return Tenant.objects.none()
    return principal.tenants()


PURPOSE_SLOTS = {slot: f"account:{purpose}" for slot, purpose in PURPOSE_BY_SLOT.items()}
