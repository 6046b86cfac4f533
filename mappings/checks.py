"""Checks run before a mapping is saved, in admin and API alike: field → messages, empty when the mapping is sound.

Xero choices are checked against the tenant's cached Xero settings, so an archived account, a tax rate Xero does
not allow on the account, a non-payment account for payments or a third tracking category is refused with a
sentence saying why.
"""

import re

from connections.providers.xero.reference import XeroReference, xero_reference_get
from mappings.models import (
    AccountRule,
    ContactPolicy,
    FieldTransform,
    ItemMapping,
    PaymentAccountMapping,
    PostingPolicy,
    TaxMapping,
    TrackingMapping,
)
from mappings.rules import ITEM_CODE_MAX, PURPOSE_BY_SLOT
from mappings.selectors import xero_connection_for
from mappings.transforms import transform_check
from mappings.validation import (
    CAN_APPLY_FLAG,
    account_problem,
    describe_tax_rate,
    effective_rate,
    payment_account_problem,
    tax_type_problem,
    tracking_category_limit_problem,
    tracking_problem,
)

NO_XERO = "Connect this tenant's Xero organisation and fetch its settings first: Xero choices are checked against them."
SALES_SLOTS = ("sales_account_code", "shipping_account_code", "discount_account_code", "surcharge_account_code")


def reference_for(tenant) -> XeroReference | None:
    xero = xero_connection_for(tenant=tenant)
    if xero is None:
        return None
    ref = xero_reference_get(connection=xero)
    return None if ref.is_empty else ref


def mapping_problems(instance) -> dict[str, list[str]]:
    """Why `instance` (unsaved changes included) cannot be saved, by field. Needs the tenant's scope."""
    errors: dict[str, list[str]] = {}

    def add(field, message):
        if message:
            errors.setdefault(field, []).append(message)

    source = getattr(instance, "source_connection", None)
    if source is not None and source.tenant_id != instance.tenant_id:
        add("source_connection", "This connection belongs to another tenant.")
        return errors
    if source is not None and source.provider == "xero":
        add("source_connection", "Choose a source system, not the Xero organisation.")
        return errors
    check = CHECKS.get(type(instance))
    if check is None:
        return errors
    needs_xero = type(instance) not in (FieldTransform, ContactPolicy, ItemMapping)
    ref = reference_for(instance.tenant) if needs_xero else None
    if needs_xero and ref is None:
        add("__all__", NO_XERO)
        return errors
    check(instance, ref, add)
    return errors


def _source_accounts(instance, *, exclude=None) -> list[tuple[str, str]]:
    """(account code, what it is) of every sales-type account configured for the mapping's source."""
    tenant, source = instance.tenant, getattr(instance, "source_connection", None)
    accounts = []
    policy = PostingPolicy.objects.filter(tenant=tenant, source_connection=source).first() if source else None
    if policy is not None and policy is not exclude and policy.pk != getattr(exclude, "pk", None):
        for slot in SALES_SLOTS:
            if getattr(policy, slot):
                accounts.append((getattr(policy, slot), PostingPolicy._meta.get_field(slot).verbose_name))
    rules = AccountRule.objects.filter(tenant=tenant, is_active=True)
    if source is not None:
        rules = rules.filter(source_connection__in=[source.pk]) | AccountRule.objects.filter(
            tenant=tenant, is_active=True, source_connection__isnull=True
        )
    for rule in rules:
        if exclude is None or rule.pk != getattr(exclude, "pk", None):
            accounts.append((rule.account_code, f"account rule “{rule}”"))
    return accounts


def _pair_problems(ref, tax_types: list[str], accounts: list[tuple[str, str]]) -> list[str]:
    problems = []
    for tax_type in tax_types:
        for code, what in accounts:
            problem = tax_type_problem(ref, tax_type, account_code=code)
            if problem and ref.tax_rate(tax_type) and ref.tax_rate(tax_type).get("Status") == "ACTIVE":
                problems.append(f"{problem} (the {what}).")
    return problems


def _source_tax_types(instance) -> list[str]:
    source = getattr(instance, "source_connection", None)
    mappings = TaxMapping.objects.filter(tenant=instance.tenant)
    if source is not None:
        mappings = mappings.filter(source_connection=source)
    return sorted(set(mappings.values_list("xero_tax_type", flat=True)))


def _check_tax(instance: TaxMapping, ref, add):
    problem = tax_type_problem(ref, instance.xero_tax_type)
    if problem:
        add("xero_tax_type", problem)
        return
    rate = ref.tax_rate(instance.xero_tax_type)
    accounts = _source_accounts(instance)
    if accounts:
        for message in _pair_problems(ref, [instance.xero_tax_type], accounts):
            add("xero_tax_type", message)
    elif rate.get(CAN_APPLY_FLAG["REVENUE"]) is False:
        add("xero_tax_type", f"Xero does not allow tax rate {describe_tax_rate(rate)} on sales (revenue) accounts.")
    if instance.source_percent is not None and not instance.rate_override:
        xero_rate = effective_rate(rate)
        if abs(xero_rate - instance.source_percent) > 0.005:
            add(
                "rate_override",
                f"The source charges {format(instance.source_percent.normalize(), 'f')}% but Xero's "
                f"{describe_tax_rate(rate)} differs: tick the override to use it anyway.",
            )


def _check_account_rule(instance: AccountRule, ref, add):
    problem = account_problem(ref, instance.account_code, purpose="sales")
    add("account_code", problem)
    if not problem:
        for message in _pair_problems(ref, _source_tax_types(instance), [(instance.account_code, "this rule")]):
            add("account_code", message)
    if instance.sku_pattern and len(instance.sku_pattern) > 200:
        add("sku_pattern", "Keep the pattern under 200 characters.")


def _check_posting(instance: PostingPolicy, ref, add):
    for slot, purpose in PURPOSE_BY_SLOT.items():
        code = getattr(instance, slot)
        if code:
            add(slot, account_problem(ref, code, purpose=purpose))
    accounts = [(getattr(instance, s), PostingPolicy._meta.get_field(s).verbose_name) for s in SALES_SLOTS]
    accounts = [(code, what) for code, what in accounts if code and slot_ok(ref, code)]
    for message in _pair_problems(ref, _source_tax_types(instance), accounts):
        add("__all__", message)
    if instance.rounding_tax_type:
        add(
            "rounding_tax_type",
            tax_type_problem(ref, instance.rounding_tax_type, account_code=instance.rounding_account_code),
        )
        rate = ref.tax_rate(instance.rounding_tax_type)
        if rate is not None and effective_rate(rate) != 0:
            add("rounding_tax_type", f"The rounding line needs a zero rate; {describe_tax_rate(rate)} is not.")
    if instance.track_inventory and not (instance.inventory_account_code and instance.cogs_account_code):
        add("track_inventory", "Tracked inventory needs an inventory asset account and a cost of goods sold account.")
    _check_string_list(instance.invoice_states, "invoice_states", add)
    if instance.rounding_limit is not None and instance.rounding_limit < 0:
        add("rounding_limit", "The rounding limit cannot be negative.")


def slot_ok(ref, code) -> bool:
    account = ref.account(code)
    return account is not None and account.get("Status") == "ACTIVE"


def _check_payment(instance: PaymentAccountMapping, ref, add):
    add("account_code", payment_account_problem(ref, instance.account_code))
    if instance.currency and not re.fullmatch(r"[A-Z]{3}", instance.currency):
        add("currency", "Use a three-letter currency code, for example AUD, or leave it blank for any currency.")


def _check_tracking(instance: TrackingMapping, ref, add):
    problem = tracking_problem(
        ref, instance.xero_category, instance.xero_option, allow_create=instance.create_missing_option
    )
    if problem:
        category = ref.tracking_category(instance.xero_category)
        usable = category is not None and category.get("Status") == "ACTIVE"
        add("xero_option" if usable else "xero_category", problem)
    others = TrackingMapping.objects.filter(tenant=instance.tenant, source_connection=instance.source_connection)
    if instance.pk:
        others = others.exclude(pk=instance.pk)
    categories = set(others.values_list("xero_category", flat=True)) | {instance.xero_category}
    add("xero_category", tracking_category_limit_problem(categories))


def _check_item(instance: ItemMapping, ref, add):
    if len(instance.item_code) > ITEM_CODE_MAX:
        add("item_code", f"Xero item codes have at most {ITEM_CODE_MAX} characters.")
    if not instance.item_code.strip():
        add("item_code", "Give the Xero item code.")


def _check_transform(instance: FieldTransform, ref, add):
    add("argument", transform_check(transform=instance.transform, argument=instance.argument, lookup=instance.lookup))
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-zA-Z0-9_]+)*", instance.source_field or ""):
        add("source_field", "Name a field of the record, for example number, contact.email or extra.po_number.")
    if instance.target.startswith("contact_") and instance.entity != FieldTransform.Entity.CONTACT:
        add("target", "Contact fields are filled from contact records; choose the contact entity.")
    if instance.target in ("invoice_reference", "line_description_suffix") and instance.entity != "order":
        add("target", "Invoice fields are filled from order records; choose the order entity.")
    if not isinstance(instance.lookup, dict):
        add("lookup", "A lookup table is an object of source value → Xero value.")
    elif instance.lookup and not all(isinstance(k, str) and isinstance(v, str) for k, v in instance.lookup.items()):
        add("lookup", "Every entry of the lookup table maps a text to a text.")


def _check_string_list(value, field, add):
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 200 for v in value):
        add(field, "Give a list of texts.")


def _check_contacts(instance: ContactPolicy, ref, add):
    _check_string_list(instance.match_order, "match_order", add)
    if isinstance(instance.match_order, list):
        valid = set(ContactPolicy.Match.values)
        unknown = [v for v in instance.match_order if v not in valid]
        if unknown:
            add("match_order", f"Unknown matching steps: {', '.join(map(str, unknown))}; use {', '.join(valid)}.")
    _check_string_list(instance.sync_customer_groups, "sync_customer_groups", add)
    _check_string_list(instance.import_contact_groups, "import_contact_groups", add)


CHECKS = {
    TaxMapping: _check_tax,
    AccountRule: _check_account_rule,
    PostingPolicy: _check_posting,
    PaymentAccountMapping: _check_payment,
    TrackingMapping: _check_tracking,
    ItemMapping: _check_item,
    FieldTransform: _check_transform,
    ContactPolicy: _check_contacts,
}
