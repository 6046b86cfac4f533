"""Load native Xero records (as the API returns or accepts them) into a simulated organisation."""

from django.db import transaction

from sandbox.xero.errors import ElementInvalid
from sandbox.xero.models import Organisation
from sandbox.xero.services.contacts import contact_group_write, contact_write
from sandbox.xero.services.documents import document_write
from sandbox.xero.services.payments import payment_create
from sandbox.xero.services.settings import account_write, item_write, tracking_category_write

# Order matters: documents reference contacts, items and accounts; payments reference documents.
_WRITERS = (
    ("Accounts", lambda org, data: account_write(org=org, data=data)),
    ("TrackingCategories", lambda org, data: tracking_category_write(org=org, data=data)),
    ("ContactGroups", lambda org, data: contact_group_write(org=org, data=data)),
    ("Contacts", lambda org, data: contact_write(org=org, data=_strip(data, "ContactID"), create_only=False)),
    ("Items", lambda org, data: item_write(org=org, data=_strip(data, "ItemID"), create_only=False, unitdp=4)),
    (
        "Invoices",
        lambda org, data: document_write(
            org=org, data=_strip(data, "InvoiceID"), kind="invoice", create_only=False, unitdp=4
        ),
    ),
    (
        "CreditNotes",
        lambda org, data: document_write(
            org=org, data=_strip(data, "CreditNoteID"), kind="creditnote", create_only=False, unitdp=4
        ),
    ),
    ("Payments", lambda org, data: payment_create(org=org, data=data)),
)


def _strip(data: dict, *keys: str) -> dict:
    return {k: v for k, v in data.items() if k not in keys}


def load_records(*, account: str, data) -> dict:
    """Load {"Contacts": [...], "Invoices": [...], …} into the organisation with tenantId `account`.

    Records are written through the same rules as the API; a refused record raises ValueError naming it, and
    nothing is loaded. Returns counts per collection.
    """
    org = Organisation.objects.filter(tenant_id=account).first()
    if org is None:
        raise ValueError(f"no simulated Xero organisation with tenantId {account}")
    if isinstance(data, list):
        raise ValueError('pass an object such as {"Contacts": [...]} so the record type is known')
    if not isinstance(data, dict) or not any(key in data for key, _ in _WRITERS):
        raise ValueError("nothing to load: expected keys " + ", ".join(key for key, _ in _WRITERS))
    counts = {}
    with transaction.atomic():
        for key, writer in _WRITERS:
            for index, record in enumerate(data.get(key) or []):
                try:
                    writer(org, record)
                except ElementInvalid as exc:
                    raise ValueError(f"{key}[{index}]: {'; '.join(exc.messages)}") from exc
                counts[key] = counts.get(key, 0) + 1
    return {"loaded": counts}
