"""Canonical records + the tenant's mappings → the exact Xero JSON the sync engine sends.

Every builder reads the tenant's mapping tables and the cached Xero settings (xero_reference_get) and checks each
choice against them. Anything Xero would refuse, or that would silently post wrong numbers, comes back as a Problem
with a plain-language cause and no payload, so the engine holds the record as "needs attention" instead of sending
it. Numbers in payloads are JSON numbers (see `_wire`); the explanation keeps them as exact decimal strings.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from connections.canonical import Contact, LineKind, Order, OrderLine, Payment, Product, Refund
from connections.models import Connection
from connections.providers.xero.reference import XeroReference, xero_reference_get
from core.money import UNIT_PRICE_4DP, quantize
from mappings.lines import (
    ZERO,
    BuiltLine,
    Problem,
    build_line,
    resolve_tax,
    rounding_line,
    source_name,
)
from mappings.models import ContactPolicy, FieldTransform
from mappings.rules import MappingSet, external_contact_number, fix_url
from mappings.transforms import transforms_apply
from mappings.validation import account_problem, payment_account_problem

__all__ = [
    "PayloadResult",
    "Problem",
    "contact_display_name",
    "contact_payload",
    "credit_note_payload",
    "invoice_payload",
    "item_payload",
    "payload_json",
    "payment_payload",
]

Target = FieldTransform.Target
RATE_6DP = Decimal("0.000001")


@dataclass(frozen=True)
class PayloadResult:
    """A Xero payload, or None with the problems that stop it; per-line explanation for the preview.

    `prerequisites` lists what must exist in Xero before the payload is sent and may be created on the tenant's
    say-so (an item when items are created on demand, a tracking option when the mapping allows it).
    """

    payload: dict | None
    problems: tuple[Problem, ...]
    explanation: tuple[dict, ...] = ()
    prerequisites: tuple[dict, ...] = ()

    @property
    def ok(self) -> bool:
        return self.payload is not None and not self.problems


def _wire(value):
    """JSON-ready numbers: Xero's spec types amounts as JSON numbers, and httpx and JSONField cannot take Decimal.

    Every amount here is quantised to at most 6 decimal places and far below 10**15, so float's shortest repr
    writes back exactly the decimal digits computed (e.g. Decimal("12.3456") → 12.3456 in the JSON text).
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def payload_json(payload: dict) -> str:
    """The payload as JSON text (for logs, hashes and tests)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _reference(xero_connection: Connection) -> tuple[XeroReference, list[Problem]]:
    ref = xero_reference_get(connection=xero_connection)
    if ref.is_empty:
        return ref, [
            Problem(
                "xero_settings_missing",
                f"Xero settings (tax rates, accounts) of “{xero_connection.display_name}” have not been fetched yet; "
                "refresh them before anything is sent.",
            )
        ]
    return ref, []


def _local_date(moment: datetime | None, tenant_timezone: str) -> date:
    # Xero dates are the organisation's calendar days, not UTC ones.
    moment = moment or datetime.now(ZoneInfo("UTC"))
    try:
        zone = ZoneInfo(tenant_timezone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date()


def _result(payload, problems, lines: list[BuiltLine], extra_explanation=()) -> PayloadResult:
    problems = tuple(dict.fromkeys(problems + [p for line in lines for p in line.problems]))
    explanation = tuple([line.explanation for line in lines if line.explanation] + list(extra_explanation))
    prerequisites = []
    for line in lines:
        for item in line.prerequisites:
            if item not in prerequisites:
                prerequisites.append(item)
    if problems:
        return PayloadResult(None, problems, explanation, tuple(prerequisites))
    return PayloadResult(_wire(payload), (), explanation, tuple(prerequisites))


def _currency(*, ref: XeroReference, mappings: MappingSet, currency: str, base: str, rate: Decimal):
    """(fields to add, problems, note) for a document in `currency` whose source rate is `rate` per `base` unit."""
    xero_base = ref.organisation.get("BaseCurrency") or ""
    if not currency or currency == xero_base:
        return {"CurrencyCode": currency or xero_base} if (currency or xero_base) else {}, [], ""
    enabled = {c.get("Code") for c in ref.currencies}
    if currency not in enabled:
        cause = f"Currency {currency} is not enabled in Xero; add it under Settings → Currencies, then retry."
        return {}, [Problem("currency_not_enabled", cause)], ""
    fields = {"CurrencyCode": currency}
    if mappings.posting.currency_rate == mappings.posting.CurrencyRate.XERO:
        return fields, [], "Xero's daily rate (posting policy)"
    if base and base != xero_base:
        return fields, [], f"Xero's daily rate: the source's rate is per {base}, Xero's base currency is {xero_base}"
    if rate and rate > 0:
        fields["CurrencyRate"] = rate.quantize(RATE_6DP)
        return fields, [], f"the source's rate {rate} {currency} per {xero_base}"
    return fields, [], "Xero's daily rate (the source recorded none)"


# Invoices ----------------------------------------------------------------------------------------------------------


def invoice_payload(
    *,
    source_connection: Connection,
    xero_connection: Connection,
    order: Order,
    contact_xero_id: str,
    existing_xero_id: str | None = None,
) -> PayloadResult:
    """The ACCREC invoice for `order`, whose Xero total equals order.grand_total to the cent, or its problems."""
    ref, problems = _reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    difference = order.unexplained_difference()
    if difference:
        cause = (
            f"The order's own numbers don't add up: order {order.number} of {source_name(source_connection)} "
            f"totals {order.grand_total}, but its lines{'' if order.tax_inclusive else ' plus tax'} come to "
            f"{order.grand_total - difference} ({difference:+}). Correct the order in the source."
        )
        return PayloadResult(None, (Problem("order_totals_inconsistent", cause),))
    mappings = MappingSet.load(source_connection)
    posting = mappings.posting
    fields = transforms_apply(mappings.transforms, entity="order", record=order)
    suffix = fields.get(Target.LINE_DESCRIPTION_SUFFIX, "")
    suffix = f" {suffix}" if suffix else ""
    inclusive = order.tax_inclusive
    lines = [
        build_line(
            mappings=mappings,
            ref=ref,
            line=line,
            order=order,
            inclusive=inclusive,
            allow_discount=True,
            description_suffix=suffix,
        )
        for line in order.lines
    ]
    categories = {t["Name"] for line in lines for t in line.payload.get("Tracking", [])}
    if len(categories) > 2:
        problems.append(
            Problem("tracking_too_many", "These tracking mappings use more than two tracking categories on one line.")
        )
    xero_total = sum((line.amount for line in lines), ZERO) + (ZERO if inclusive else sum((x.tax for x in lines), ZERO))
    gap = quantize(order.grand_total - xero_total)
    if gap and not any(line.problems for line in lines):
        lines.append(rounding_line(mappings=mappings, ref=ref, difference=gap, what="order"))

    tenant = source_connection.tenant
    issued = _local_date(order.created_at, tenant.timezone)
    payload = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_xero_id},
        "Date": issued.isoformat(),
        "DueDate": (issued + timedelta(days=posting.due_days)).isoformat(),
        "Status": posting.invoice_status,
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
        "Reference": fields.get(Target.INVOICE_REFERENCE, order.number)[:255],
        "LineItems": [line.payload for line in lines],
    }
    if posting.numbering == posting.Numbering.SOURCE:
        payload["InvoiceNumber"] = f"{posting.invoice_number_prefix}{order.number}"[:255]
    currency, currency_problems, rate_note = _currency(
        ref=ref, mappings=mappings, currency=order.currency, base=order.base_currency, rate=order.currency_rate
    )
    payload.update(currency)
    problems += currency_problems
    if existing_xero_id:
        payload["InvoiceID"] = existing_xero_id
    summary = {
        "line_id": "totals",
        "kind": "totals",
        "source_total": str(order.grand_total),
        "xero_total": str(xero_total + (gap if gap else ZERO)),
        "rounding_adjustment": str(gap),
        "currency": currency.get("CurrencyCode", ""),
        "currency_rate": rate_note,
        "invoice_number": payload.get("InvoiceNumber", "(Xero numbering)"),
        "reference": payload["Reference"],
    }
    return _result(payload, problems, lines, [summary])


# Credit notes ------------------------------------------------------------------------------------------------------


def credit_note_payload(
    *,
    source_connection: Connection,
    xero_connection: Connection,
    refund: Refund,
    contact_xero_id: str,
    order: Order | None = None,
    existing_xero_id: str | None = None,
) -> PayloadResult:
    """The ACCRECCREDIT credit note for `refund` (lines in the order's tax basis), totalling refund.total exactly.

    Refund lines take the account, tax and tracking their order line had (found by line id or SKU); shipping,
    adjustments and fees use the posting policy's accounts. Credit notes take no discounts in Xero.
    """
    ref, problems = _reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    mappings = MappingSet.load(source_connection)
    inclusive = bool(order and order.tax_inclusive)
    originals = {line.line_id: line for line in (order.lines if order else ())}
    by_sku = {line.sku: line for line in (order.lines if order else ()) if line.sku}
    source_lines = []
    for item in refund.lines:
        original = originals.get(item.line_id) or by_sku.get(item.sku)
        quantity = item.quantity or Decimal(1)
        source_lines.append(
            OrderLine(
                line_id=item.line_id,
                kind=LineKind.PRODUCT,
                description=item.description or (original.description if original else item.sku),
                quantity=quantity,
                unit_price=quantize(item.amount / quantity, UNIT_PRICE_4DP),
                tax=item.tax,
                total=item.amount,
                tax_key=item.tax_key or (original.tax_key if original else None),
                sku=item.sku,
                product_type=original.product_type if original else "",
                category=original.category if original else "",
            )
        )
    shipping_line = next((line for line in (order.lines if order else ()) if line.kind == LineKind.SHIPPING), None)
    for line_id, kind, description, amount in (
        ("shipping", LineKind.SHIPPING, "Shipping refund", refund.shipping),
        ("adjustment", LineKind.SURCHARGE, "Refund adjustment", refund.adjustment),
        ("fee", LineKind.SURCHARGE, "Refund fee", -abs(refund.fee) if refund.fee else ZERO),
    ):
        if amount:
            key = shipping_line.tax_key if (kind == LineKind.SHIPPING and shipping_line) else None
            source_lines.append(OrderLine(line_id, kind, description, Decimal(1), amount, total=amount, tax_key=key))
    lines = [
        build_line(mappings=mappings, ref=ref, line=line, order=order, inclusive=inclusive, allow_discount=False)
        for line in source_lines
    ]
    xero_total = sum((line.amount for line in lines), ZERO) + (ZERO if inclusive else sum((x.tax for x in lines), ZERO))
    gap = quantize(refund.total - xero_total)
    if gap and not any(line.problems for line in lines):
        lines.append(rounding_line(mappings=mappings, ref=ref, difference=gap, what="refund"))
    tenant = source_connection.tenant
    issued = _local_date(refund.refunded_at, tenant.timezone)
    payload = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_xero_id},
        "Date": issued.isoformat(),
        "Status": mappings.posting.invoice_status,
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
        "Reference": (f"Refund of {order.number}" if order else refund.number)[:255],
        "CreditNoteNumber": f"{mappings.posting.invoice_number_prefix}{refund.number}"[:255],
        "LineItems": [line.payload for line in lines],
    }
    currency, currency_problems, _ = _currency(
        ref=ref,
        mappings=mappings,
        currency=refund.currency,
        base=order.base_currency if order else "",
        rate=order.currency_rate if order else Decimal(0),
    )
    payload.update(currency)
    problems += currency_problems
    if existing_xero_id:
        payload["CreditNoteID"] = existing_xero_id
    return _result(payload, problems, lines)


# Payments ----------------------------------------------------------------------------------------------------------


def payment_payload(
    *, source_connection: Connection, xero_connection: Connection, payment: Payment, invoice_xero_id: str
) -> PayloadResult:
    """A payment against an invoice, into the account mapped for its method (and currency)."""
    ref, problems = _reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    mappings = MappingSet.load(source_connection)
    choice = mappings.payment_account_for(payment.method, payment.currency)
    if choice is None:
        cause = (
            f"Payment method “{payment.method or '(none)'}” of {source_name(source_connection)} is not mapped to "
            f"a Xero bank account{f' for {payment.currency}' if payment.currency else ''}."
        )
        url = fix_url("paymentaccountmapping", source_connection=source_connection.pk, payment_method=payment.method)
        return PayloadResult(None, (Problem("payment_account_unmapped", cause, url),))
    problem = payment_account_problem(ref, choice.value)
    if problem:
        return PayloadResult(
            None, (Problem("payment_account_invalid", f"{problem} Chosen by {choice.rule}.", choice.fix_url),)
        )
    tenant = source_connection.tenant
    payload = {
        "Invoice": {"InvoiceID": invoice_xero_id},
        "Account": {"Code": choice.value},
        "Date": _local_date(payment.paid_at, tenant.timezone).isoformat(),
        "Amount": quantize(payment.amount),
    }
    if payment.reference:
        payload["Reference"] = payment.reference[:255]
    explanation = (
        {"account_code": choice.value, "account_rule": choice.rule, "amount": str(quantize(payment.amount))},
    )
    return PayloadResult(_wire(payload), (), explanation)


# Contacts ----------------------------------------------------------------------------------------------------------


def contact_display_name(*, policy: ContactPolicy, contact: Contact, contact_number: str, name_taken: bool) -> str:
    """The Xero Name: the contact's own name, disambiguated deterministically when another contact holds it."""
    name = contact.name.strip()
    if name_taken:
        if policy.name_collision == ContactPolicy.Collision.SUFFIX_EMAIL and contact.email:
            name = f"{name} ({contact.email})"
        else:
            name = f"{name} [{contact_number}]"
    return name[:255]


def _address(address) -> dict:
    lines = list(address.lines)[:4]
    body = {"AddressType": "POBOX" if address.kind == "billing" else "STREET"}
    for index, text in enumerate(lines, start=1):
        body[f"AddressLine{index}"] = text[:500]
    for key, value in (
        ("City", address.city),
        ("Region", address.region),
        ("PostalCode", address.postcode),
        ("Country", address.country),
    ):
        if value:
            body[key] = value[:255]
    return body


def contact_payload(
    *,
    source_connection: Connection,
    xero_connection: Connection,
    contact: Contact,
    existing_xero_id: str | None = None,
    name_taken: bool = False,
) -> PayloadResult:
    """A Xero contact for a source customer.

    ContactNumber carries a deterministic external id (rules.external_contact_number), so the engine can find the
    contact after a lost response. Pass name_taken=True after Xero refused the name as taken: the name is then
    disambiguated per the collision policy, or held when the policy says so.
    """
    mappings = MappingSet.load(source_connection)
    policy = mappings.contacts
    number = external_contact_number(source_connection=source_connection, source_id=contact.source_id)
    if name_taken and policy.name_collision == ContactPolicy.Collision.HOLD:
        cause = (
            f"A different Xero contact is already called “{contact.name}”; the contact policy of "
            f"{source_name(source_connection)} holds such customers for a person to link or rename."
        )
        url = fix_url("contactpolicy", obj_id=policy.pk) if policy.pk else ""
        return PayloadResult(None, (Problem("contact_name_taken", cause, url),))
    name = contact_display_name(policy=policy, contact=contact, contact_number=number, name_taken=name_taken)
    payload = {"Name": name, "ContactNumber": number}
    if contact.first_name:
        payload["FirstName"] = contact.first_name[:255]
    if contact.last_name:
        payload["LastName"] = contact.last_name[:255]
    notes = []
    if contact.email:
        if contact.email.isascii():
            payload["EmailAddress"] = contact.email[:255]
        else:
            notes.append("email left out: Xero does not accept non-ASCII email addresses")
    fields = transforms_apply(mappings.transforms, entity="contact", record=contact)
    account_number = fields.get(Target.CONTACT_ACCOUNT_NUMBER, "")
    if not account_number and policy.account_number == ContactPolicy.AccountNumber.SOURCE_ID:
        account_number = contact.source_id
    elif not account_number and policy.account_number == ContactPolicy.AccountNumber.EXTERNAL_ID:
        account_number = number
    if account_number:
        payload["AccountNumber"] = account_number[:50]
    tax_number = fields.get(Target.CONTACT_TAX_NUMBER) or contact.tax_number
    if tax_number:
        payload["TaxNumber"] = tax_number[:50]
    if Target.CONTACT_NAME in fields and not name_taken:
        payload["Name"] = fields[Target.CONTACT_NAME][:255]
    if contact.addresses:
        payload["Addresses"] = [_address(a) for a in contact.addresses]
    if contact.phone:
        payload["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": contact.phone[:50]}]
    if contact.is_archived:
        payload["ContactStatus"] = "ARCHIVED"
    if existing_xero_id:
        payload["ContactID"] = existing_xero_id
    # IsCustomer/IsSupplier cannot be set through the API (Xero sets them from documents): reported, not sent.
    explanation = (
        {
            "name": payload["Name"],
            "contact_number": number,
            "name_rule": "collision policy: " + policy.get_name_collision_display() if name_taken else "source name",
            "match_order": policy.effective_match_order(),
            "is_customer": contact.is_customer,
            "is_supplier": contact.is_supplier,
            "notes": notes,
        },
    )
    return PayloadResult(_wire(payload), (), explanation)


# Items -------------------------------------------------------------------------------------------------------------


def item_payload(*, source_connection: Connection, xero_connection: Connection, product: Product) -> PayloadResult:
    """A Xero item for a product: Code ≤ 30 (deterministic for long SKUs), sales account and tax, optional inventory."""
    ref, problems = _reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    mappings = MappingSet.load(source_connection)
    posting = mappings.posting
    code = mappings.item_code_for(product.sku)
    line = OrderLine(
        line_id=product.source_id,
        kind=LineKind.PRODUCT,
        description=product.name,
        quantity=Decimal(1),
        unit_price=product.price or ZERO,
        sku=product.sku,
        product_type=product.product_type,
        category=product.category,
        tax_key=product.tax_key,
    )
    choice = mappings.account_for(line, None)
    problems = []
    sales = {}
    if product.price is not None:
        sales["UnitPrice"] = quantize(product.price, UNIT_PRICE_4DP)
    if choice is None:
        problems.append(
            Problem(
                "account_unmapped",
                f"No Xero sales account is set for product lines of {source_name(source_connection)}.",
                mappings.policy_fix_url(),
            )
        )
    else:
        problem = account_problem(ref, choice.value, purpose="sales")
        if problem:
            problems.append(Problem("account_invalid", f"{problem} Chosen by {choice.rule}.", choice.fix_url))
        else:
            sales["AccountCode"] = choice.value
    if product.tax_key is not None:
        tax_type, _, _, _, tax_problems = resolve_tax(
            mappings=mappings,
            ref=ref,
            key=product.tax_key,
            account_code=sales.get("AccountCode", ""),
            where=f"product {product.sku}",
        )
        problems += [p for p in tax_problems if p.code != "tax_rate_differs"]
        if tax_type and not tax_problems:
            sales["TaxType"] = tax_type
    payload = {"Code": code.value, "Name": (product.name or product.sku)[:50]}
    if product.description or len(product.name) > 50:
        payload["Description"] = (product.description or product.name)[:4000]
    payload["SalesDetails"] = sales
    if posting.track_inventory and product.is_tracked:
        for slot, purpose in (("inventory_account_code", "inventory"), ("cogs_account_code", "cogs")):
            value = getattr(posting, slot)
            problem = account_problem(ref, value, purpose=purpose) if value else "is not set in the posting policy."
            if problem:
                problems.append(
                    Problem(
                        "account_invalid", f"Inventory tracking: {purpose} account {problem}", mappings.policy_fix_url()
                    )
                )
        payload["InventoryAssetAccountCode"] = posting.inventory_account_code
        purchase = {"COGSAccountCode": posting.cogs_account_code}
        if product.cost is not None:
            purchase["UnitPrice"] = quantize(product.cost, UNIT_PRICE_4DP)
        payload["PurchaseDetails"] = purchase
    explanation = ({"item_code": code.value, "item_rule": code.rule, "account_rule": choice.rule if choice else ""},)
    if problems:
        return PayloadResult(None, tuple(problems), explanation)
    return PayloadResult(_wire(payload), (), explanation)
