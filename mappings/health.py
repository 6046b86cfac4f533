"""Mapping health: every gap that would stop a tenant's records reaching Xero, each with a link to fix it."""

from datetime import timedelta

from django.utils import timezone

from connections.models import Connection
from connections.providers.xero.reference import xero_reference_get
from mappings.lines import Problem, source_name
from mappings.models import (
    AccountRule,
    PaymentAccountMapping,
    PostingPolicy,
    SourceValue,
    TaxMapping,
    TrackingMapping,
)
from mappings.rules import PURPOSE_BY_SLOT, SLOT_BY_KIND, fix_url
from mappings.selectors import source_connections, xero_connection_for
from mappings.validation import account_problem, payment_account_problem, tax_type_problem, tracking_problem

RECENT = timedelta(days=90)


def mapping_gaps(*, tenant, now=None) -> list[Problem]:
    """Gaps for the tenant: unmapped tax keys and payment methods seen in the last 90 days, mapped accounts,
    tax rates and tracking options that Xero no longer offers. Needs the tenant's scope."""
    xero = xero_connection_for(tenant=tenant)
    if xero is None:
        return [Problem("xero_not_connected", "No Xero organisation is connected to this tenant.")]
    ref = xero_reference_get(connection=xero)
    if ref.is_empty:
        return [
            Problem(
                "xero_settings_missing",
                f"Xero settings of “{xero.display_name}” have not been fetched yet; refresh them.",
            )
        ]
    since = (now or timezone.now()) - RECENT
    problems: list[Problem] = []
    for source in source_connections(tenant=tenant):
        problems += _source_gaps(tenant=tenant, source=source, ref=ref, since=since)
    problems += _rule_gaps(tenant=tenant, ref=ref)
    return list(dict.fromkeys(problems))


def _source_gaps(*, tenant, source: Connection, ref, since) -> list[Problem]:
    problems = []
    name = source_name(source)
    seen = SourceValue.objects.filter(tenant=tenant, source_connection=source, last_seen_at__gte=since)
    taxes = {m.tax_code: m for m in TaxMapping.objects.filter(tenant=tenant, source_connection=source)}
    for value in seen.filter(kind=SourceValue.Kind.TAX_KEY):
        if value.value not in taxes:
            percent = format(value.percent.normalize(), "f") if value.percent is not None else "?"
            problems.append(
                Problem(
                    "tax_unmapped",
                    f"Tax key “{value.value}” ({percent}%) of {name} is not mapped to a Xero tax rate.",
                    fix_url(
                        "taxmapping",
                        source_connection=source.pk,
                        tax_code=value.value,
                        tax_label=value.label,
                        source_percent=value.percent,
                    ),
                )
            )
    for mapping in taxes.values():
        problem = tax_type_problem(ref, mapping.xero_tax_type)
        if problem:
            problems.append(
                Problem("tax_invalid", f"{problem} (mapped from “{mapping.tax_code}” of {name})", _url(mapping))
            )
    payments = list(PaymentAccountMapping.objects.filter(tenant=tenant, source_connection=source))
    for value in seen.filter(kind=SourceValue.Kind.PAYMENT_METHOD):
        mapped = any(m.payment_method == value.value and m.currency in ("", value.currency) for m in payments)
        if not mapped:
            problems.append(
                Problem(
                    "payment_account_unmapped",
                    f"Payment method “{value.value}”{f' in {value.currency}' if value.currency else ''} of {name} "
                    "is not mapped to a Xero bank account.",
                    fix_url(
                        "paymentaccountmapping",
                        source_connection=source.pk,
                        payment_method=value.value,
                        currency=value.currency,
                    ),
                )
            )
    for mapping in payments:
        problem = payment_account_problem(ref, mapping.account_code)
        if problem:
            problems.append(Problem("payment_account_invalid", f"{problem} ({mapping})", _url(mapping)))
    policy = PostingPolicy.objects.filter(tenant=tenant, source_connection=source).first()
    has_rules = (
        AccountRule.objects.filter(tenant=tenant, is_active=True).filter(source_connection__in=[source.pk]).exists()
        or AccountRule.objects.filter(tenant=tenant, is_active=True, source_connection__isnull=True).exists()
    )
    policy_url = _url(policy) if policy else fix_url("postingpolicy", source_connection=source.pk)
    kinds = set(seen.filter(kind=SourceValue.Kind.LINE_KIND).values_list("value", flat=True))
    required = [SLOT_BY_KIND[kind] for kind in SLOT_BY_KIND if str(kind) in kinds]
    if kinds and seen.filter(kind=SourceValue.Kind.TAX_KEY).exists():
        # Xero's per-line tax rounding can leave cents to adjust on any order.
        required.append("rounding_account_code")
    if has_rules and "sales_account_code" in required:
        required.remove("sales_account_code")
    for slot in dict.fromkeys(required):
        if slot == "surcharge_account_code" and policy is not None and policy.sales_account_code:
            continue  # surcharges fall back to the sales account
        if policy is None or not getattr(policy, slot):
            label = PostingPolicy._meta.get_field(slot).verbose_name
            problems.append(Problem("account_unmapped", f"No {label} is set for {name}.", policy_url))
    if policy is not None:
        for slot, purpose in PURPOSE_BY_SLOT.items():
            code = getattr(policy, slot)
            problem = account_problem(ref, code, purpose=purpose) if code else None
            if problem:
                label = PostingPolicy._meta.get_field(slot).verbose_name
                problems.append(Problem("account_invalid", f"{problem} ({label} of {name})", policy_url))
    for mapping in TrackingMapping.objects.filter(tenant=tenant, source_connection=source):
        problem = tracking_problem(
            ref, mapping.xero_category, mapping.xero_option, allow_create=mapping.create_missing_option
        )
        if problem:
            problems.append(Problem("tracking_invalid", f"{problem} ({mapping}, {name})", _url(mapping)))
    return problems


def _rule_gaps(*, tenant, ref) -> list[Problem]:
    problems = []
    for rule in AccountRule.objects.filter(tenant=tenant, is_active=True):
        problem = account_problem(ref, rule.account_code, purpose="sales")
        if problem:
            problems.append(Problem("account_invalid", f"{problem} (account rule “{rule}”)", _url(rule)))
    return problems


def _url(obj) -> str:
    return fix_url(obj._meta.model_name, obj_id=obj.pk)
