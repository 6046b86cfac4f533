"""Contact and item payloads: who is invoiced, and what is sold."""

from decimal import Decimal

from connections.canonical import Contact, LineKind, Note, OrderLine, Product
from connections.models import Connection
from core.money import UNIT_PRICE_4DP, quantize
from mappings.lines import ZERO, Problem, resolve_tax, source_name
from mappings.models import ContactPolicy, FieldTransform, SystemOfRecord
from mappings.results import PayloadResult, reference, wire
from mappings.rules import MappingSet, external_contact_number, fix_url
from mappings.transforms import transforms_apply
from mappings.validation import account_problem

Target = FieldTransform.Target
Group = SystemOfRecord.FieldGroup


# Field groups ------------------------------------------------------------------------------------------------------

# The Xero contact fields each field group covers: what an update leaves out when Xero owns the group.
XERO_CONTACT_FIELDS = {
    Group.CONTACT_DETAILS: ("Name", "FirstName", "LastName", "EmailAddress", "Phones", "Addresses"),
    Group.TAX_NUMBER: ("TaxNumber",),
}


def contact_field_values(contact: Contact) -> dict[str, dict]:
    """A contact's values per field group, in a form both sides can be compared in (and stored as JSON).

    Only the billing (else first) address counts: it is the one every source and Xero both keep.
    """
    address = next(
        (a for a in contact.addresses if a.kind == "billing"), contact.addresses[0] if contact.addresses else None
    )
    return {
        Group.CONTACT_DETAILS: {
            "first_name": contact.first_name.strip(),
            "last_name": contact.last_name.strip(),
            "email": contact.email.strip().lower(),
            "phone": contact.phone.strip(),
            "address": (
                {
                    "lines": [line.strip() for line in address.lines],
                    "city": address.city.strip(),
                    "postcode": address.postcode.strip(),
                    "country": address.country.strip().upper(),
                }
                if address
                else None
            ),
        },
        Group.TAX_NUMBER: {"tax_number": contact.tax_number.strip()},
    }


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
    disambiguated per the collision policy, or held when the policy says so. An update of an existing contact
    leaves out the field groups Xero is the system of record of (a new contact gets everything).
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
    display_name = payload["Name"]
    kept_out = []
    if existing_xero_id:
        payload["ContactID"] = existing_xero_id
        for group, group_fields in XERO_CONTACT_FIELDS.items():
            if mappings.owners.get(group) == SystemOfRecord.Owner.XERO:
                removed = [payload.pop(name) for name in group_fields if name in payload]
                if removed:
                    kept_out.append(str(group))
    # IsCustomer/IsSupplier cannot be set through the API (Xero sets them from documents): reported, not sent.
    explanation = (
        {
            "name": display_name,
            "contact_number": number,
            "name_rule": "collision policy: " + policy.get_name_collision_display() if name_taken else "source name",
            "match_order": policy.effective_match_order(),
            "is_customer": contact.is_customer,
            "is_supplier": contact.is_supplier,
            "kept_out": kept_out,
            "notes": notes,
        },
    )
    return PayloadResult(wire(payload), (), explanation)


def contact_note_payload(*, note: Note, contact_xero_id: str | None) -> PayloadResult:
    """A note for a contact's history in Xero (PUT Contacts/{id}/History): at most 250 characters."""
    if not contact_xero_id:
        return PayloadResult(None, (Problem("contact_missing", "The note's contact is not in Xero."),))
    return PayloadResult({"ContactID": contact_xero_id, "Details": note.text[:250]}, ())


# Items -------------------------------------------------------------------------------------------------------------


def item_payload(*, source_connection: Connection, xero_connection: Connection, product: Product) -> PayloadResult:
    """A Xero item for a product: Code ≤ 30 (deterministic for long SKUs), sales account and tax, optional inventory."""
    ref, problems = reference(xero_connection)
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
    return PayloadResult(wire(payload), (), explanation)
