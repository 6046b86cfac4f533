"""Document lines as Xero will compute them: account, tax type, tracking and item per line, amounts and tax exactly.

Xero computes each line's amount from quantity × unit price − discount, rounds it to the cent, then the line's tax
(exclusive: amount × r / 100; inclusive: amount × r / (100 + r)), rounded half up to the cent on its own, and sums
the rounded taxes (research/xero.md §5). Mirroring that here is what lets a rounding line make Xero's total equal
the source's to the cent.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from connections.canonical import LineKind, Order, OrderLine, TaxKey
from connections.providers.registry import UnknownProviderError, provider_get
from core.money import UNIT_PRICE_4DP, quantize
from mappings.cache import cached
from mappings.rules import PURPOSE_BY_SLOT, SLOT_BY_KIND, Choice, MappingSet, fix_url
from mappings.validation import (
    account_problem,
    describe_tax_rate,
    effective_rate,
    tax_type_problem,
    tracking_problem,
)

HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
KIND_WORDS = {
    LineKind.PRODUCT: "product",
    LineKind.SHIPPING: "shipping",
    LineKind.DISCOUNT: "discount",
    LineKind.GIFT_CARD: "gift card",
    LineKind.SURCHARGE: "surcharge",
    LineKind.ADJUSTMENT: "adjustment",
}


@dataclass(frozen=True)
class Problem:
    """Why a record cannot be sent: a stable code, a cause in plain language for an accountant, where to fix it."""

    code: str
    cause: str
    fix_url: str = ""


def source_name(connection) -> str:
    try:
        provider = provider_get(connection.provider).name
    except UnknownProviderError:
        provider = connection.provider
    return f"{provider} “{connection.display_name}”"


def xero_line_tax(*, amount: Decimal, rate: Decimal, inclusive: bool) -> Decimal:
    """One line's tax as Xero computes it: on the line alone, rounded half up to the cent."""
    if not rate:
        return ZERO
    if inclusive:
        return quantize(amount * rate / (HUNDRED + rate))
    return quantize(amount * rate / HUNDRED)


def xero_line_amount(*, quantity: Decimal, unit: Decimal, discount: Decimal) -> Decimal:
    return quantize(quantity.quantize(UNIT_PRICE_4DP) * unit - discount)


@dataclass
class BuiltLine:
    """One Xero line and what the preview says about it."""

    payload: dict
    explanation: dict
    amount: Decimal = ZERO
    tax: Decimal = ZERO
    problems: list[Problem] = field(default_factory=list)
    prerequisites: list[dict] = field(default_factory=list)


def purpose_of(kind: LineKind) -> str:
    return PURPOSE_BY_SLOT[SLOT_BY_KIND.get(kind, "sales_account_code")]


def resolve_tax(
    *, mappings: MappingSet, ref, key: TaxKey | None, account_code: str, where: str
) -> tuple[str, Decimal, bool, str, list[Problem]]:
    """(tax type, Xero's effective rate, use the source's tax amount, rule, problems) for one line."""
    # Once per tax key and account within a batch (mappings.cache), where it resolves without problems: a batch's
    # lines use a handful of them. Problems name the line (`where`), so those are found again for each line.
    resolved = cached(
        ("tax", id(mappings), id(ref), key, account_code),
        lambda: _resolve_tax(mappings=mappings, ref=ref, key=key, account_code=account_code, where=where),
    )
    if resolved[4]:
        return _resolve_tax(mappings=mappings, ref=ref, key=key, account_code=account_code, where=where)
    return resolved


def _resolve_tax(
    *, mappings: MappingSet, ref, key: TaxKey | None, account_code: str, where: str
) -> tuple[str, Decimal, bool, str, list[Problem]]:
    source = mappings.source_connection
    key, mapping = mappings.tax_for(key)
    if mapping is None:
        label = f" ({key.label})" if key.label and key.label != key.code else ""
        cause = (
            f"Tax key “{key.code}”{label} of {source_name(source)} is not mapped to a Xero tax rate"
            f" ({where}); map it before this can be sent."
        )
        url = fix_url(
            "taxmapping",
            source_connection=source.pk,
            tax_code=key.code,
            tax_label=key.label,
            source_percent=format(key.percent, "f"),
        )
        return "", Decimal(0), False, "", [Problem("tax_unmapped", cause, url)]
    url = fix_url("taxmapping", obj_id=mapping.pk)
    problem = tax_type_problem(ref, mapping.xero_tax_type, account_code=account_code)
    if problem:
        return mapping.xero_tax_type, Decimal(0), False, "", [Problem("tax_invalid", f"{problem} ({where})", url)]
    rate_row = ref.tax_rate(mapping.xero_tax_type)
    rate = effective_rate(rate_row)
    rule = f"tax mapping {key.code} → {describe_tax_rate(rate_row)}"
    if abs(rate - key.percent) > Decimal("0.005"):
        if not mapping.rate_override:
            cause = (
                f"Tax key “{key.code}” of {source_name(source)} is {format(key.percent.normalize(), 'f')}% but "
                f"Xero's {describe_tax_rate(rate_row)} differs; confirm the override on the mapping or choose "
                "a rate with the same effective rate."
            )
            return mapping.xero_tax_type, rate, False, rule, [Problem("tax_rate_differs", cause, url)]
        return mapping.xero_tax_type, rate, True, rule + " (override: the source's tax amount is kept)", []
    return mapping.xero_tax_type, rate, False, rule, []


def resolve_tracking(*, mappings: MappingSet, ref, line: OrderLine | None, order: Order | None, where: str):
    """(Xero Tracking entries, explanation, problems, prerequisites) for one line."""
    entries, explained, problems, prerequisites = [], [], [], []
    for mapping, option in mappings.tracking_for(line, order):
        url = fix_url("trackingmapping", obj_id=mapping.pk)
        problem = tracking_problem(ref, mapping.xero_category, option, allow_create=mapping.create_missing_option)
        if problem:
            problems.append(Problem("tracking_invalid", f"{problem} ({where})", url))
            continue
        category = ref.tracking_category(mapping.xero_category)
        names = {o.get("Name", "").lower(): o.get("Name") for o in category.get("Options") or []}
        if option.lower() not in names:
            prerequisites.append({"kind": "tracking_option", "category": mapping.xero_category, "option": option})
        option = names.get(option.lower(), option)
        entries.append({"Name": mapping.xero_category, "Option": option})
        explained.append(
            {
                "category": mapping.xero_category,
                "option": option,
                "rule": f"{mapping.get_source_attribute_display()} {mapping.source_value or '(any)'} → "
                f"{mapping.xero_category}",
            }
        )
    return entries, explained, problems, prerequisites


def build_line(
    *,
    mappings: MappingSet,
    ref,
    line: OrderLine,
    order: Order | None,
    inclusive: bool,
    allow_discount: bool,
    description_suffix: str = "",
) -> BuiltLine:
    """The Xero line for one source line, or the problems that stop it."""
    where = f"{KIND_WORDS.get(line.kind, line.kind)} line “{line.description or line.sku or line.line_id}”"
    problems: list[Problem] = []
    choice: Choice | None = mappings.account_for(line, order)
    account_code = ""
    if choice is None:
        words = KIND_WORDS.get(line.kind, "product")
        problems.append(
            Problem(
                "account_unmapped",
                f"No Xero account is set for {words} lines of {source_name(mappings.source_connection)} ({where}).",
                mappings.policy_fix_url(),
            )
        )
    else:
        problem = account_problem(ref, choice.value, purpose=purpose_of(line.kind))
        if problem:
            problems.append(Problem("account_invalid", f"{problem} Chosen by {choice.rule} ({where}).", choice.fix_url))
        else:
            account_code = choice.value
    tax_type, rate, keep_source_tax, tax_rule, tax_problems = resolve_tax(
        mappings=mappings, ref=ref, key=line.tax_key, account_code=account_code, where=where
    )
    problems += tax_problems
    tracking, tracking_explained, tracking_problems, prerequisites = resolve_tracking(
        mappings=mappings, ref=ref, line=line, order=order, where=where
    )
    problems += tracking_problems

    quantity = line.quantity
    unit = quantize(line.unit_price, UNIT_PRICE_4DP)
    discount = quantize(line.discount)
    notes = []
    if discount and not allow_discount:
        # Credit notes take no discounts in Xero: fold the discount into the unit price when that is exact.
        folded = quantize((quantity * unit - discount) / quantity, UNIT_PRICE_4DP) if quantity else unit
        notes.append(f"discount {discount} folded into the unit price ({unit} → {folded})")
        unit, discount = folded, ZERO
    amount = xero_line_amount(quantity=quantity, unit=unit, discount=discount)
    if amount != line.total and quantity:
        # Prefer a unit price whose product with the quantity gives the source's line total exactly.
        candidate = quantize((line.total + discount) / quantity, UNIT_PRICE_4DP)
        if xero_line_amount(quantity=quantity, unit=candidate, discount=discount) == line.total:
            notes.append(f"unit price {unit} → {candidate} so quantity × price equals the source's {line.total}")
            unit, amount = candidate, line.total
        else:
            notes.append(f"Xero's line amount {amount} differs from the source's {line.total}")
    tax = quantize(line.tax) if keep_source_tax else xero_line_tax(amount=amount, rate=rate, inclusive=inclusive)

    payload = {
        "Description": ((line.description or line.sku or KIND_WORDS.get(line.kind, "Line")) + description_suffix)[
            :4000
        ],
        "Quantity": quantity,
        "UnitAmount": unit,
    }
    if discount:
        payload["DiscountAmount"] = discount
    item_code, item_rule = "", ""
    posting = mappings.posting
    if line.sku and line.kind == LineKind.PRODUCT and posting.item_codes != posting.ItemCodes.OFF:
        item = mappings.item_code_for(line.sku)
        exists = any(i.get("Code") == item.value for i in ref.items)
        if exists or posting.item_codes == posting.ItemCodes.CREATE:
            item_code, item_rule = item.value, item.rule
            payload["ItemCode"] = item.value
            if not exists:
                prerequisites.append({"kind": "item", "sku": line.sku, "code": item.value})
    if account_code:
        payload["AccountCode"] = account_code
    if tax_type:
        payload["TaxType"] = tax_type
    if keep_source_tax:
        payload["TaxAmount"] = tax
    if tracking:
        payload["Tracking"] = tracking
    explanation = {
        "line_id": line.line_id,
        "kind": str(line.kind),
        "description": payload["Description"],
        "sku": line.sku,
        "quantity": str(quantity),
        "unit_amount": str(unit),
        "discount": str(discount),
        "line_amount": str(amount),
        "tax_amount": str(tax),
        "source_total": str(line.total),
        "source_tax": str(line.tax),
        "account_code": account_code or (choice.value if choice else ""),
        "account_rule": choice.rule if choice else "no account mapped",
        "tax_type": tax_type,
        "tax_rule": tax_rule or "no tax mapping",
        "tracking": tracking_explained,
        "item_code": item_code,
        "item_rule": item_rule,
        "notes": notes,
    }
    return BuiltLine(payload, explanation, amount, tax, problems, prerequisites)


def zero_tax_type_for(ref, account_code: str, preferred: str = "") -> str:
    """A tax type with a zero rate that Xero allows on the account (NONE, BAS Excluded, …), or ""."""
    if preferred:
        return preferred
    candidates = [r for r in ref.active_tax_rates() if effective_rate(r) == 0]
    order = {"NONE": 0, "BASEXCLUDED": 1, "EXEMPTOUTPUT": 2, "ZERORATEDOUTPUT": 3}
    candidates.sort(key=lambda r: (order.get(r.get("TaxType"), 9), r.get("TaxType", "")))
    for rate in candidates:
        if tax_type_problem(ref, rate["TaxType"], account_code=account_code) is None:
            return rate["TaxType"]
    return ""


def rounding_line(*, mappings: MappingSet, ref, difference: Decimal, what: str) -> BuiltLine:
    """The adjustment line that makes Xero's total equal the source's, or the problems that stop it."""
    posting = mappings.posting
    url = mappings.policy_fix_url()
    built = BuiltLine(payload={}, explanation={}, amount=difference)
    if abs(difference) > posting.rounding_limit:
        built.problems.append(
            Problem(
                "rounding_exceeds_limit",
                f"Xero would total {difference:+} away from the {what}'s total, more than the rounding limit of "
                f"{posting.rounding_limit}; check the tax mappings of {source_name(mappings.source_connection)}.",
                url,
            )
        )
        return built
    code = posting.rounding_account_code
    if not code:
        built.problems.append(
            Problem(
                "rounding_account_unmapped",
                f"Xero's per-line tax rounding leaves {difference:+} to adjust, and no rounding account is set "
                f"for {source_name(mappings.source_connection)}.",
                url,
            )
        )
        return built
    problem = account_problem(ref, code, purpose="rounding")
    tax_type = zero_tax_type_for(ref, code, posting.rounding_tax_type)
    if problem:
        built.problems.append(Problem("account_invalid", f"{problem} (rounding account)", url))
    elif not tax_type:
        built.problems.append(
            Problem("tax_unmapped", f"No zero tax rate in Xero can be used on rounding account {code}.", url)
        )
    elif posting.rounding_tax_type:
        problem = tax_type_problem(ref, tax_type, account_code=code)
        if problem:
            built.problems.append(Problem("tax_invalid", f"{problem} (rounding line)", url))
    built.payload = {
        "Description": "Rounding adjustment",
        "Quantity": Decimal(1),
        "UnitAmount": difference,
        "AccountCode": code,
        "TaxType": tax_type,
    }
    built.explanation = {
        "line_id": "rounding",
        "kind": "rounding",
        "description": "Rounding adjustment",
        "quantity": "1",
        "unit_amount": str(difference),
        "line_amount": str(difference),
        "tax_amount": "0.00",
        "account_code": code,
        "account_rule": "posting policy: rounding account",
        "tax_type": tax_type,
        "tax_rule": "zero rate on the rounding account",
        "tracking": [],
        "notes": [f"Xero's per-line tax rounding differs from the {what}'s total by {difference:+}"],
    }
    return built
