"""The tenant's mappings for one source connection, loaded once, and the rules that pick a value for a record.

Each resolver answers the chosen value and the rule that chose it (for the preview), or None when nothing is
mapped. Checking the choice against Xero is mappings.validation's job.
"""

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

from connections.canonical import LineKind, Order, OrderLine, TaxKey
from connections.models import Connection
from core.kept import KeptReads
from mappings.cache import cached
from mappings.models import (
    AccountRule,
    ContactPolicy,
    FieldTransform,
    ItemMapping,
    PaymentAccountMapping,
    PostingPolicy,
    SystemOfRecord,
    TaxMapping,
    TrackingMapping,
)

ITEM_CODE_MAX = 30
ZERO_TAX_KEY = TaxKey.from_rate(0)

# Posting-policy account slot per line kind (product lines go through the account rules first).
SLOT_BY_KIND = {
    LineKind.PRODUCT: "sales_account_code",
    LineKind.SHIPPING: "shipping_account_code",
    LineKind.DISCOUNT: "discount_account_code",
    LineKind.GIFT_CARD: "gift_card_account_code",
    LineKind.SURCHARGE: "surcharge_account_code",
    LineKind.ADJUSTMENT: "rounding_account_code",
}
PURPOSE_BY_SLOT = {
    "sales_account_code": "sales",
    "shipping_account_code": "shipping",
    "discount_account_code": "discount",
    "gift_card_account_code": "gift_card",
    "surcharge_account_code": "surcharge",
    "rounding_account_code": "rounding",
    "inventory_account_code": "inventory",
    "cogs_account_code": "cogs",
}


def fix_url(model_name: str, *, obj_id=None, **params) -> str:
    """The admin page where a person fixes a gap: the object's change page, or an add page pre-filled."""
    if obj_id is not None:
        # Once per object within a batch (mappings.cache): every line of every invoice names the rule that chose
        # its account and its tax, and finding the URL configuration and script prefix (context-local lookups)
        # cost more than the payload's own work.
        return cached(("fix_url", model_name, obj_id), lambda: _change_url(model_name, obj_id))
    url = _admin_url(f"admin:mappings_{model_name}_add", None, _urlconf(), get_script_prefix())
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if url and params else url


def _change_url(model_name: str, obj_id) -> str:
    return _admin_url(f"admin:mappings_{model_name}_change", str(obj_id), _urlconf(), get_script_prefix())


def _urlconf() -> str:
    return get_urlconf() or settings.ROOT_URLCONF


@lru_cache(maxsize=4096)
def _admin_url(name: str, obj_id: str | None, urlconf, script_prefix: str) -> str:
    # Every payload line carries the fix URL of the rule that chose its account: reverse() once per page, not
    # once per line.
    try:
        return reverse(name, args=[obj_id] if obj_id is not None else None, urlconf=urlconf)
    except NoReverseMatch:
        return ""


def item_code_for(sku: str) -> str:
    """A Xero item code for a SKU: the SKU itself when it fits, else a deterministic 30-character code."""
    sku = sku.strip()
    if len(sku) <= ITEM_CODE_MAX:
        return sku
    digest = hashlib.sha256(sku.encode()).hexdigest()[:8].upper()
    return f"{sku[: ITEM_CODE_MAX - 9]}~{digest}"


def external_contact_number(*, source_connection: Connection, source_id: str) -> str:
    """The ContactNumber that identifies a source customer in Xero (≤ 50 characters, stable, unique per source)."""
    prefix = f"LB{source_connection.pk}-"
    candidate = prefix + source_id
    if len(candidate) <= 50 and re.fullmatch(r"[\w.@:+-]+", source_id):
        return candidate
    return prefix + "H" + hashlib.sha256(source_id.encode()).hexdigest()[:32]


def _mapping_sources() -> list[str]:
    from django.db import connection

    models = (
        TaxMapping,
        AccountRule,
        PaymentAccountMapping,
        TrackingMapping,
        ItemMapping,
        FieldTransform,
        PostingPolicy,
        ContactPolicy,
        SystemOfRecord,
    )
    return [f"FROM {connection.ops.quote_name(m._meta.db_table)} r WHERE r.tenant_id = %s" for m in models]


# Per source connection, in this process: a few per tenant.
_kept_mappings = KeptReads(_mapping_sources, keep=256)


@dataclass(frozen=True)
class Choice:
    value: str
    rule: str
    fix_url: str = ""


@dataclass
class MappingSet:
    """Everything configured for one source connection, read in a handful of queries."""

    source_connection: Connection
    taxes: dict[str, TaxMapping] = field(default_factory=dict)
    account_rules: list[AccountRule] = field(default_factory=list)
    payments: list[PaymentAccountMapping] = field(default_factory=list)
    tracking: list[TrackingMapping] = field(default_factory=list)
    items: dict[str, ItemMapping] = field(default_factory=dict)
    transforms: list[FieldTransform] = field(default_factory=list)
    posting: PostingPolicy | None = None
    contacts: ContactPolicy | None = None
    # Field group → "xero" or "source" (mappings.models.SystemOfRecord); a group not here has none.
    owners: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, source_connection: Connection) -> "MappingSet":
        """The source connection's mappings (looked at once per mapping_cache() block)."""
        return cached(("mappings", source_connection.pk), lambda: cls._kept_or_read(source_connection))

    @classmethod
    def _kept_or_read(cls, source_connection: Connection) -> "MappingSet":
        """The mappings as this process last read them while none of the tenant's mapping rows changed (core.kept):
        the drain builds every batch from them, and one digest query replaces nine reads and an instance per row.
        An admin's save is seen by the next batch all the same."""
        return _kept_mappings.get(
            source_connection.pk, lambda: cls._read(source_connection), rows=source_connection.tenant_id
        )

    @classmethod
    def _read(cls, source_connection: Connection) -> "MappingSet":
        tenant_id = source_connection.tenant_id
        own = {"tenant_id": tenant_id, "source_connection": source_connection}
        rules = AccountRule.objects.filter(tenant_id=tenant_id, is_active=True).filter(
            source_connection__isnull=True
        ) | AccountRule.objects.filter(tenant_id=tenant_id, is_active=True, source_connection=source_connection)
        return cls(
            source_connection=source_connection,
            taxes={m.tax_code: m for m in TaxMapping.objects.filter(**own)},
            account_rules=list(rules.order_by("position", "id")),
            payments=list(PaymentAccountMapping.objects.filter(**own)),
            tracking=list(TrackingMapping.objects.filter(**own).order_by("position", "id")),
            items={m.sku: m for m in ItemMapping.objects.filter(**own)},
            transforms=list(FieldTransform.objects.filter(is_active=True, **own).order_by("position", "id")),
            posting=PostingPolicy.objects.filter(**own).first()
            or PostingPolicy(tenant_id=tenant_id, source_connection=source_connection),
            contacts=ContactPolicy.objects.filter(**own).first()
            or ContactPolicy(tenant_id=tenant_id, source_connection=source_connection),
            owners=dict(SystemOfRecord.objects.filter(**own).values_list("field_group", "owner")),
        )

    # Tax -------------------------------------------------------------------------------------------------------

    def tax_for(self, key: TaxKey | None) -> tuple[TaxKey, TaxMapping | None]:
        key = key or ZERO_TAX_KEY
        return key, self.taxes.get(key.code)

    # Accounts --------------------------------------------------------------------------------------------------

    def account_for(self, line: OrderLine, order: Order | None) -> Choice | None:
        posting = self.posting
        if line.kind == LineKind.PRODUCT:
            for rule in self.account_rules:
                if _rule_matches(rule, line, order):
                    label = rule.name or f"account rule #{rule.position}"
                    conditions = rule.conditions()
                    described = ", ".join(f"{k} {v}" for k, v in conditions.items()) or "every product line"
                    return Choice(rule.account_code, f"{label} ({described})", fix_url("accountrule", obj_id=rule.pk))
        slot = SLOT_BY_KIND.get(line.kind, "sales_account_code")
        code = getattr(posting, slot) or (posting.sales_account_code if line.kind == LineKind.SURCHARGE else "")
        if not code:
            return None
        # The rule's words once per slot within a batch (mappings.cache): the label is translated each time it is
        # formatted.
        rule = cached(
            ("posting_slot", slot), lambda: f"posting policy: {PostingPolicy._meta.get_field(slot).verbose_name}"
        )
        return Choice(code, rule, self.policy_fix_url())

    def policy_fix_url(self) -> str:
        if self.posting and self.posting.pk:
            return fix_url("postingpolicy", obj_id=self.posting.pk)
        return fix_url("postingpolicy", source_connection=self.source_connection.pk)

    # Payments --------------------------------------------------------------------------------------------------

    def payment_account_for(self, method: str, currency: str) -> Choice | None:
        exact = next((m for m in self.payments if m.payment_method == method and m.currency == currency), None)
        fallback = next((m for m in self.payments if m.payment_method == method and not m.currency), None)
        mapping = exact or fallback
        if mapping is None:
            return None
        where = f"{method} in {currency}" if mapping.currency else f"{method} (any currency)"
        return Choice(
            mapping.account_code, f"payment account for {where}", fix_url("paymentaccountmapping", obj_id=mapping.pk)
        )

    # Tracking --------------------------------------------------------------------------------------------------

    def tracking_for(self, line: OrderLine | None, order: Order | None) -> list[tuple[TrackingMapping, str]]:
        """(mapping, option) per tracking category, first matching mapping per category, at most two categories."""
        chosen: dict[str, tuple[TrackingMapping, str]] = {}
        for mapping in self.tracking:
            if mapping.xero_category in chosen:
                continue
            value = attribute_value(mapping.source_attribute, line, order)
            if not value:
                continue
            if mapping.source_value and mapping.source_value.lower() != value.lower():
                continue
            chosen[mapping.xero_category] = (mapping, mapping.xero_option or value)
        return list(chosen.values())[:2]

    # Items -----------------------------------------------------------------------------------------------------

    def item_code_for(self, sku: str) -> Choice:
        mapping = self.items.get(sku)
        if mapping is not None:
            return Choice(mapping.item_code, "item mapping", fix_url("itemmapping", obj_id=mapping.pk))
        code = item_code_for(sku)
        return Choice(code, "the SKU" if code == sku else "a code derived from the long SKU")


def attribute_value(attribute: str, line: OrderLine | None, order: Order | None) -> str:
    if attribute == TrackingMapping.Attribute.CATEGORY:
        return (line.category if line else "") or ""
    if order is None:
        return ""
    if attribute == TrackingMapping.Attribute.LOCATION:
        return str(order.extra.get("location") or "")
    return str(getattr(order, attribute, "") or "")


def _rule_matches(rule: AccountRule, line: OrderLine, order: Order | None) -> bool:
    if rule.category and rule.category.lower() != (line.category or "").lower():
        return False
    if rule.sku_pattern and not fnmatch.fnmatchcase((line.sku or "").upper(), rule.sku_pattern.upper()):
        return False
    if rule.product_type and rule.product_type.lower() != (line.product_type or "").lower():
        return False
    for name in ("store", "channel", "customer_group"):
        wanted = getattr(rule, name)
        if wanted and (order is None or wanted.lower() != str(getattr(order, name, "") or "").lower()):
            return False
    return True
