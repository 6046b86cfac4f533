"""Contacts and contact groups, with Xero's uniqueness rules."""

from django.utils import timezone

from sandbox.xero.errors import ElementInvalid, NotFound
from sandbox.xero.models import Contact, ContactGroup, Organisation
from sandbox.xero.services.history import history_add
from sandbox.xero.services.rows import new_row
from sandbox.xero.services.webhooks import webhook_event_queue
from sandbox.xero.services.workspace import Workspace, workspace_single

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


def contact_find(*, org: Organisation, ref: dict, ws: Workspace | None = None) -> Contact | None:
    """The contact a document points at: by ContactID, else ContactNumber, else active Name."""
    ws = ws or Workspace(org)
    if ref.get("ContactID"):
        return ws.contact_by_id(ref["ContactID"])  # a malformed GUID finds nothing, as in Xero
    if ref.get("ContactNumber"):
        return ws.contact_by_number(ref["ContactNumber"])
    if ref.get("Name"):
        return next(iter(ws.contacts_named(ref["Name"].strip())), None)
    return None


def contact_refs(elements) -> dict:
    """What a batch's contacts (or documents' Contact references) name: ids, numbers and names to read up front."""
    ids, numbers, names = [], [], []
    for data in elements:
        if not isinstance(data, dict):
            continue
        if data.get("ContactID"):
            ids.append(data["ContactID"])
        if data.get("ContactNumber"):
            numbers.append(str(data["ContactNumber"]).strip())
            numbers.append(str(data["ContactNumber"]))
        if data.get("Name"):
            names.append(str(data["Name"]).strip())
    return {"ids": ids, "numbers": numbers, "names": names}


def contact_write(
    *, org: Organisation, data: dict, create_only: bool, contact_id=None, ws: Workspace | None = None
) -> tuple[Contact, bool]:
    """Create or update one contact (PUT creates only; POST updates when it names an existing ContactID).

    Returns the contact and whether it was created. Refusals raise ElementInvalid with Xero's messages.
    """
    if not isinstance(data, dict):
        raise ElementInvalid("A contact must be an object")
    with workspace_single(org, ws) as ws:
        return _contact_write(ws=ws, data=data, create_only=create_only, contact_id=contact_id)


def _contact_write(*, ws: Workspace, data: dict, create_only: bool, contact_id) -> tuple[Contact, bool]:
    org = ws.org
    target_id = contact_id or data.get("ContactID")
    contact = None
    if target_id:
        if create_only and contact_id is None:
            raise ElementInvalid("A ContactID cannot be specified when creating a contact")
        contact = ws.contact_by_id(target_id, strict=True)
        if contact is None:
            raise NotFound if contact_id else ElementInvalid(f"The contact with ContactID {target_id} was not found")
    created = contact is None
    if created:
        contact = new_row(Contact, org_id=org.pk)
    else:
        ws.claim(contact)
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
    if contact.name and contact.status == "ACTIVE" and ws.contacts_named(contact.name, exclude_id=contact.id):
        errors.append(
            f"The contact name {contact.name} is already assigned to another contact. The contact name must be "
            "unique across all active contacts."
        )
    if contact.contact_number and ws.contact_number_taken(contact.contact_number, exclude_id=contact.id):
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
    ws.save(contact)
    history_add(org=org, object_id=contact.id, changes="Created" if created else "Updated", details="", ws=ws)
    webhook_event_queue(org=org, category="CONTACT", resource_id=contact.id, created=created, ws=ws)
    return contact, created


def contact_mark_role(*, contact: Contact, document_type: str, ws: Workspace | None = None) -> None:
    """IsCustomer/IsSupplier are read-only: Xero sets them when a sales/purchase document uses the contact."""
    field = "is_customer" if document_type in ("ACCREC", "ACCRECCREDIT") else "is_supplier"
    if not getattr(contact, field):
        if ws is None:
            setattr(contact, field, True)
            contact.save(update_fields=[field])
            return
        ws.touch(contact)
        setattr(contact, field, True)
        ws.save(contact)


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
