"""Suggested mappings from what the source showed and the tenant's Xero settings, each with its reason.

Nothing changes until an admin accepts a suggestion; accepting runs the same checks as a manual edit.
"""

import re
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from connections.models import Connection
from core.errors import ApplicationError, RequestError
from mappings.checks import mapping_problems, reference_for
from mappings.lines import source_name
from mappings.models import (
    MappingSuggestion,
    PaymentAccountMapping,
    PostingPolicy,
    SourceValue,
    TaxMapping,
)
from mappings.rules import SLOT_BY_KIND
from mappings.selectors import xero_connection_for
from mappings.services import mapping_save, mapping_snapshot
from mappings.validation import (
    CAN_APPLY_FLAG,
    account_problem,
    describe_account,
    describe_tax_rate,
    effective_rate,
    is_payment_account,
)

Kind = MappingSuggestion.Kind
TOLERANCE = Decimal("0.005")
# Words that say which posting-policy account an account name is for.
SLOT_WORDS = {
    "sales_account_code": ("sales", "revenue", "income"),
    "shipping_account_code": ("shipping", "freight", "postage", "delivery", "carriage"),
    "discount_account_code": ("discount", "discounts"),
    "gift_card_account_code": ("gift", "voucher"),
    "surcharge_account_code": ("surcharge", "fee", "fees"),
    "rounding_account_code": ("rounding",),
}
GATEWAY_WORDS = ("paypal", "stripe", "braintree", "card", "cc", "adyen", "square", "afterpay", "klarna", "authorize")


class SuggestionStaleError(ApplicationError):
    code = "suggestion_stale"


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", (text or "").lower()) if w and w not in ("rate", "tax", "on")}


def _name_score(source_words: set[str], rate: dict) -> int:
    """2 per shared word, 1 per source abbreviation that starts a word of the rate ("CA" → "California")."""
    target = _words(f"{rate.get('Name')} {rate.get('TaxType')}")
    score = 2 * len(source_words & target)
    score += sum(1 for w in source_words - target if len(w) >= 2 and any(t.startswith(w) for t in target))
    return score


def _new_rate(value: SourceValue, ref, percent: Decimal) -> tuple[dict, str]:
    """A Xero tax rate to create when the organisation has none at the source's rate (peers' pain: tax mismatches)."""
    rate_text = format(percent.normalize(), "f")
    name = (value.label if value.label and value.label != value.value else value.value)[:40]
    taken = {str(r.get("Name", "")).lower() for r in ref.tax_rates}
    if name.lower() in taken:
        name = f"{name[:32]} ({rate_text}%)"
    create = {"Name": name, "TaxComponents": [{"Name": (value.label or "Tax")[:50], "Rate": rate_text}]}
    if ref.organisation.get("CountryCode") in ("AU", "NZ", "GB"):
        create["ReportTaxType"] = "OUTPUT"
    reason = (
        f"No Xero tax rate charges {rate_text}% and none has a similar name: accepting creates “{name}” at "
        f"{rate_text}% in Xero and maps “{value.value}” to it."
    )
    return {"create_tax_rate": create, "rate_override": False}, reason


def _tax_suggestion(value: SourceValue, ref) -> tuple[dict, str] | None:
    percent = value.percent if value.percent is not None else Decimal(0)
    candidates = [r for r in ref.active_tax_rates() if r.get(CAN_APPLY_FLAG["REVENUE"]) is not False]
    words = _words(f"{value.value} {value.label}")
    scored = []
    for rate in candidates:
        same = abs(effective_rate(rate) - percent) <= TOLERANCE
        # Sales-side rates first when names tie: "…Income", "OUTPUT…" over purchase ones allowed on revenue too.
        sales_side = any(
            w in _words(f"{rate.get('Name')} {rate.get('TaxType')}") for w in ("income", "output", "sales")
        )
        scored.append((same, _name_score(words, rate), sales_side, -abs(effective_rate(rate) - percent), rate))
    if not scored:
        return _new_rate(value, ref, percent)
    same, name_score, _, _, best = max(scored, key=lambda s: s[:4])
    described = describe_tax_rate(best)
    rate_text = format(percent.normalize(), "f")
    if same:
        why = f"same effective rate ({rate_text}%)" + (" and a similar name" if name_score else "")
        return {"xero_tax_type": best["TaxType"], "rate_override": False}, f"{described}: {why}."
    if name_score:
        return (
            {"xero_tax_type": best["TaxType"], "rate_override": True},
            f"{described}: similar name, but no Xero rate has the source's {rate_text}%; accepting confirms the "
            "override and each line keeps the tax the source charged.",
        )
    return _new_rate(value, ref, percent)


def _account_suggestion(slot: str, ref) -> tuple[str, str] | None:
    from mappings.rules import PURPOSE_BY_SLOT

    purpose = PURPOSE_BY_SLOT[slot]
    usable = [a for a in ref.active_accounts() if account_problem(ref, a.get("Code", ""), purpose=purpose) is None]
    if slot == "rounding_account_code":
        system = next((a for a in usable if a.get("SystemAccount") == "ROUNDING"), None)
        if system is not None:
            return system["Code"], f"{describe_account(system)} is Xero's rounding account."
    words = SLOT_WORDS[slot]
    named = [a for a in usable if _words(a.get("Name", "")) & set(words)]
    if named:
        best = min(named, key=lambda a: a.get("Code", ""))
        return best["Code"], f"{describe_account(best)}: its name says {words[0]} and its type suits {purpose}."
    return None


def _payment_suggestion(value: SourceValue, ref) -> tuple[str, str] | None:
    accounts = [a for a in ref.active_accounts() if is_payment_account(a)]
    if not accounts:
        return None
    method = value.value.lower()
    banks = [a for a in accounts if a.get("Type") == "BANK"]
    if "paypal" in method:
        paypal = next((a for a in banks if a.get("BankAccountType") == "PAYPAL"), None)
        if paypal:
            return paypal["Code"], f"{describe_account(paypal)} is the PayPal account."
    if any(w in method for w in GATEWAY_WORDS):
        clearing = [a for a in accounts if a.get("Type") != "BANK"]
        named = [a for a in clearing if _words(a.get("Name", "")) & {"clearing", "gateway", "merchant", "undeposited"}]
        if named:
            best = named[0]
            return best["Code"], (
                f"{describe_account(best)}: “{value.value}” is a payment gateway, which pays out later; its "
                "payments wait in a clearing account with payments enabled."
            )
    if value.currency:
        same_currency = [a for a in banks if a.get("CurrencyCode") == value.currency]
        if same_currency:
            best = same_currency[0]
            return best["Code"], f"{describe_account(best)} is the bank account in {value.currency}."
    if banks:
        best = min(banks, key=lambda a: a.get("Code", ""))
        return best["Code"], f"{describe_account(best)} is the main bank account."
    best = accounts[0]
    return best["Code"], f"{describe_account(best)} accepts payments."


def _propose(*, source: Connection, kind, key: str, label: str, proposal: dict, reason: str) -> MappingSuggestion:
    suggestion, _ = MappingSuggestion.objects.update_or_create(
        tenant_id=source.tenant_id,
        source_connection=source,
        kind=kind,
        key=key[:220],
        status=MappingSuggestion.Status.OPEN,
        defaults={"label": label[:300], "proposal": proposal, "reason": reason[:500]},
    )
    return suggestion


def suggestions_refresh(*, source_connection: Connection) -> list[MappingSuggestion]:
    """Propose a mapping for every tax key, account slot and payment method the source needs and lacks.

    Returns the open suggestions of the source (old ones made moot by a manual mapping are dismissed).
    """
    source = source_connection
    tenant = source.tenant
    ref = reference_for(tenant)
    if ref is None:
        raise ApplicationError("Connect Xero and fetch its settings before asking for suggestions.", code="no_xero")
    own = {"tenant": tenant, "source_connection": source}
    seen = SourceValue.objects.filter(**own)
    mapped_taxes = set(TaxMapping.objects.filter(**own).values_list("tax_code", flat=True))
    keep = set()
    for value in seen.filter(kind=SourceValue.Kind.TAX_KEY).exclude(value__in=mapped_taxes):
        found = _tax_suggestion(value, ref)
        if found:
            proposal, reason = found
            percent = format(value.percent.normalize(), "f") if value.percent is not None else ""
            proposal.update({"tax_code": value.value, "tax_label": value.label, "source_percent": percent})
            label = f"Tax “{value.value}” ({percent}%) of {source_name(source)}"
            keep.add(
                _propose(
                    source=source, kind=Kind.TAX, key=value.value, label=label, proposal=proposal, reason=reason
                ).pk
            )
    policy = PostingPolicy.objects.filter(**own).first()
    kinds = set(seen.filter(kind=SourceValue.Kind.LINE_KIND).values_list("value", flat=True))
    slots = ["sales_account_code", "rounding_account_code"] + [SLOT_BY_KIND[k] for k in SLOT_BY_KIND if str(k) in kinds]
    for slot in dict.fromkeys(slots):
        if policy is not None and getattr(policy, slot):
            continue
        found = _account_suggestion(slot, ref)
        if found:
            code, reason = found
            label = f"{PostingPolicy._meta.get_field(slot).verbose_name.capitalize()} of {source_name(source)}"
            proposal = {"slot": slot, "account_code": code}
            keep.add(
                _propose(source=source, kind=Kind.ACCOUNT, key=slot, label=label, proposal=proposal, reason=reason).pk
            )
    payments = list(PaymentAccountMapping.objects.filter(**own))
    methods = {}
    for value in seen.filter(kind=SourceValue.Kind.PAYMENT_METHOD):
        methods.setdefault(value.value, value)
    for method, value in methods.items():
        if any(m.payment_method == method for m in payments):
            continue
        found = _payment_suggestion(value, ref)
        if found:
            code, reason = found
            label = f"Payments by “{method}” in {source_name(source)}"
            proposal = {"payment_method": method, "currency": "", "account_code": code}
            keep.add(
                _propose(source=source, kind=Kind.PAYMENT, key=method, label=label, proposal=proposal, reason=reason).pk
            )
    open_ = MappingSuggestion.objects.filter(**own, status=MappingSuggestion.Status.OPEN)
    open_.exclude(pk__in=keep).update(
        status=MappingSuggestion.Status.DISMISSED, decided_by="system", decided_at=timezone.now()
    )
    return list(open_.filter(pk__in=keep).order_by("kind", "key"))


def _target(suggestion: MappingSuggestion):
    """The mapping the suggestion creates or changes, with the proposal applied (unsaved)."""
    own = {"tenant": suggestion.tenant, "source_connection": suggestion.source_connection}
    proposal = suggestion.proposal
    if suggestion.kind == Kind.TAX:
        mapping = TaxMapping.objects.filter(**own, tax_code=proposal["tax_code"]).first() or TaxMapping(**own)
        mapping.tax_code = proposal["tax_code"]
        mapping.tax_label = proposal.get("tax_label", "")
        mapping.source_percent = Decimal(proposal["source_percent"]) if proposal.get("source_percent") else None
        mapping.xero_tax_type = proposal["xero_tax_type"]
        mapping.rate_override = bool(proposal.get("rate_override"))
        return mapping
    if suggestion.kind == Kind.ACCOUNT:
        policy = PostingPolicy.objects.filter(**own).first() or PostingPolicy(**own)
        setattr(policy, proposal["slot"], proposal["account_code"])
        return policy
    mapping = PaymentAccountMapping.objects.filter(
        **own, payment_method=proposal["payment_method"], currency=proposal.get("currency", "")
    ).first() or PaymentAccountMapping(
        **own, payment_method=proposal["payment_method"], currency=proposal.get("currency", "")
    )
    mapping.account_code = proposal["account_code"]
    return mapping


def _create_tax_rate(*, suggestion: MappingSuggestion, client) -> str:
    """Create the proposed rate in Xero (outside any transaction), add it to the cache, return its TaxType."""
    from connections.models import XeroReferenceData
    from connections.providers.xero.tokens import xero_client_for
    from mappings.results import wire

    xero = xero_connection_for(tenant=suggestion.tenant)
    if xero is None:
        raise SuggestionStaleError("No Xero organisation is connected to this tenant.")
    client = client or xero_client_for(xero)
    create = suggestion.proposal["create_tax_rate"]
    body = {**create, "TaxComponents": [{**c, "Rate": Decimal(c["Rate"])} for c in create["TaxComponents"]]}
    try:
        response = client.put("TaxRates", json_body={"TaxRates": [wire(body)]})
    except RequestError as exc:
        raise SuggestionStaleError(f"Xero refused the new tax rate: {exc.message}") from exc
    created = (response.json().get("TaxRates") or [{}])[0]
    errors = [e.get("Message") for e in created.get("ValidationErrors") or []]
    if errors or not created.get("TaxType"):
        raise SuggestionStaleError(f"Xero refused the new tax rate: {'; '.join(filter(None, errors)) or 'no TaxType'}")
    with transaction.atomic():
        row = XeroReferenceData.objects.select_for_update().get(
            tenant=suggestion.tenant, connection=xero, kind=XeroReferenceData.Kind.TAX_RATES
        )
        row.data = [r for r in row.data if r.get("TaxType") != created["TaxType"]] + [created]
        row.save(update_fields=["data", "updated_at"])
    return created["TaxType"]


def suggestion_accept(*, suggestion: MappingSuggestion, actor: str, client=None):
    """Apply one open suggestion through the same checks as a manual edit; returns the saved mapping.

    A suggestion to create a tax rate creates it in Xero first (through `client`, or the connection's own).
    """
    if suggestion.status != MappingSuggestion.Status.OPEN:
        raise SuggestionStaleError("This suggestion was already decided.")
    if suggestion.kind == Kind.TAX and suggestion.proposal.get("create_tax_rate"):
        tax_type = _create_tax_rate(suggestion=suggestion, client=client)
        suggestion.proposal = {**suggestion.proposal, "xero_tax_type": tax_type, "create_tax_rate": None}
        suggestion.save(update_fields=["proposal", "updated_at"])
    target = _target(suggestion)
    before = mapping_snapshot(type(target).objects.get(pk=target.pk)) if target.pk else None
    problems = mapping_problems(target)
    if problems:
        message = "; ".join(m for messages in problems.values() for m in messages)
        raise SuggestionStaleError(f"This suggestion no longer fits the Xero settings: {message}")
    with transaction.atomic():
        mapping_save(instance=target, actor=actor, before=before)
        suggestion.status = MappingSuggestion.Status.ACCEPTED
        suggestion.decided_by, suggestion.decided_at = actor[:200], timezone.now()
        suggestion.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    return target


def suggestions_accept(*, suggestions, actor: str, client=None) -> dict:
    """Accept many; returns {"accepted": n, "refused": [{"id", "reason"}]}. Account slots apply one by one."""
    accepted, refused = 0, []
    for suggestion in suggestions:
        try:
            suggestion_accept(suggestion=suggestion, actor=actor, client=client)
            accepted += 1
        except SuggestionStaleError as exc:
            refused.append({"id": suggestion.pk, "reason": exc.message})
    return {"accepted": accepted, "refused": refused}


def suggestion_dismiss(*, suggestion: MappingSuggestion, actor: str) -> None:
    """Say no to a suggestion; it is not proposed again until refreshed."""
    if suggestion.status != MappingSuggestion.Status.OPEN:
        raise SuggestionStaleError("This suggestion was already decided.")
    suggestion.status = MappingSuggestion.Status.DISMISSED
    suggestion.decided_by, suggestion.decided_at = actor[:200], timezone.now()
    suggestion.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
