"""Contacts and contact groups, with Xero's uniqueness rules."""

from django.utils import timezone

from sandbox.xero.errors import ElementInvalid, NotFound
from sandbox.xero.models import Contact, ContactGroup, Organisation
from sandbox.xero.services.history import history_add
from sandbox.xero.services.webhooks import webhook_event_queue

# Columns of the Contact model; everything else in a written contact is kept verbatim in `extra`.
_COLUMNS = {
    "Name": ("name", 255),
    "ContactNumber": ("contact_number", 50),
    "AccountNumber": ("account_number", 50),
    "EmailAddress": ("email_address", 255),
    "FirstName": ("first_name", 255),
    "LastName": ("last_name", 255),
}
_READ_ONLY = {
    "ContactID",
    "UpdatedDateUTC",
    "IsCustomer",
    "IsSupplier",
    "HasValidationErrors",
    "ValidationErrors",
    "StatusAttributeString",
    "Balances",
    "HasAttachments",
    "ContactGroups",
}


def contact_find(*, org: Organisation, ref: dict) -> Contact | None:
    """The contact a document points at: by ContactID, else ContactNumber, else active Name."""
    contacts = Contact.objects.filter(org=org)
    if ref.get("ContactID"):
        try:
            return contacts.filter(id=ref["ContactID"]).first()
        except Exception:  # noqa: BLE001 - a malformed GUID finds nothing, as in Xero
            return None
    if ref.get("ContactNumber"):
        return contacts.filter(contact_number=ref["ContactNumber"]).first()
    if ref.get("Name"):
        return contacts.filter(name__iexact=ref["Name"].strip(), status="ACTIVE").first()
    return None


def contact_write(*, org: Organisation, data: dict, create_only: bool, contact_id=None) -> tuple[Contact, bool]:
    """Create or update one contact (PUT creates only; POST updates when it names an existing ContactID).

    Returns the contact and whether it was created. Refusals raise ElementInvalid with Xero's messages.
    """
    if not isinstance(data, dict):
        raise ElementInvalid("A contact must be an object")
    target_id = contact_id or data.get("ContactID")
    contact = None
    if target_id:
        if create_only and contact_id is None:
            raise ElementInvalid("A ContactID cannot be specified when creating a contact")
        contact = Contact.objects.filter(org=org, id=target_id).first()
        if contact is None:
            raise NotFound if contact_id else ElementInvalid(f"The contact with ContactID {target_id} was not found")
    created = contact is None
    if created:
        contact = Contact(org=org)
    errors = []
    for field, (column, limit) in _COLUMNS.items():
        if field in data:
            value = "" if data[field] is None else str(data[field]).strip()
            if len(value) > limit:
                errors.append(f"{field} must not be more than {limit} characters long.")
            setattr(contact, column, value)
    if "ContactStatus" in data:
        if data["ContactStatus"] not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
            errors.append(f"Invalid ContactStatus '{data['ContactStatus']}'")
        else:
            contact.status = data["ContactStatus"]
    if not contact.name:
        errors.append("The contact name must be specified.")
    if contact.email_address and ("@" not in contact.email_address or " " in contact.email_address):
        errors.append("Email address must be valid.")
    others = Contact.objects.filter(org=org).exclude(id=contact.id)
    if contact.name and contact.status == "ACTIVE" and others.filter(name__iexact=contact.name, status="ACTIVE"):
        errors.append(
            f"The contact name {contact.name} is already assigned to another contact. The contact name must be "
            "unique across all active contacts."
        )
    if contact.contact_number and others.filter(contact_number=contact.contact_number).exists():
        errors.append(
            f"The contact number {contact.contact_number} is already assigned to another contact. The contact "
            "number must be unique across all contacts."
        )
    if errors:
        raise ElementInvalid(*errors)
    extra = dict(contact.extra)
    for key, value in data.items():
        if key not in _COLUMNS and key not in _READ_ONLY and key != "ContactStatus":
            extra[key] = value
    contact.extra = extra
    contact.updated_at = timezone.now()
    contact.save()
    history_add(org=org, object_id=contact.id, changes="Created" if created else "Updated", details="")
    webhook_event_queue(org=org, category="CONTACT", resource_id=contact.id, created=created)
    return contact, created


def contact_mark_role(*, contact: Contact, document_type: str) -> None:
    """IsCustomer/IsSupplier are read-only: Xero sets them when a sales/purchase document uses the contact."""
    field = "is_customer" if document_type in ("ACCREC", "ACCRECCREDIT") else "is_supplier"
    if not getattr(contact, field):
        setattr(contact, field, True)
        contact.save(update_fields=[field])


def contact_group_write(*, org: Organisation, data: dict, group_id=None) -> ContactGroup:
    """Create a contact group, or rename / delete (Status DELETED) an existing one."""
    group = None
    if group_id or data.get("ContactGroupID"):
        group = ContactGroup.objects.filter(org=org, id=group_id or data["ContactGroupID"]).first()
        if group is None:
            raise NotFound
    if group is None:
        if ContactGroup.objects.filter(org=org, status="ACTIVE").count() >= 100:
            raise ElementInvalid("You've reached the limit of 100 contact groups.")
        group = ContactGroup(org=org)
    if "Name" in data:
        group.name = str(data["Name"] or "").strip()
    if not group.name:
        raise ElementInvalid("The contact group name must be specified.")
    if ContactGroup.objects.filter(org=org, name__iexact=group.name, status="ACTIVE").exclude(id=group.id).exists():
        raise ElementInvalid(f"The contact group name '{group.name}' is already in use.")
    if data.get("Status") in ("ACTIVE", "DELETED"):
        group.status = data["Status"]
    group.updated_at = timezone.now()
    group.save()
    return group


def contact_group_add_contacts(*, org: Organisation, group: ContactGroup, refs: list[dict]) -> list[Contact]:
    """PUT /ContactGroups/{id}/Contacts: every referenced contact must exist in the organisation."""
    contacts = []
    for ref in refs:
        contact = contact_find(org=org, ref={"ContactID": (ref or {}).get("ContactID")})
        if contact is None:
            raise ElementInvalid(f"Contact {ref.get('ContactID')} could not be found")
        contacts.append(contact)
    group.contacts.add(*contacts)
    return contacts
