"""Xero records as canonical records, for the flows from Xero back to sources (contacts, stock levels)."""

import re
from datetime import UTC, datetime, timedelta

from connections.canonical import Address, Contact, StockLevel
from core.money import from_json_number

# /Date(1439434356790)/ or /Date(1419937200000+1300)/ (research/xero.md §4): milliseconds since the epoch in UTC,
# the optional offset only says which local time it was.
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
# Phones in the order a source's single phone field prefers them.
_PHONE_TYPES = ("DEFAULT", "MOBILE", "DDI")


def parse_xero_date(value) -> datetime | None:
    """A Xero timestamp (`/Date(…)/` or ISO 8601, UTC when no zone is given) as an aware UTC datetime."""
    if not value:
        return None
    text = str(value)
    match = _MS_DATE.match(text)
    if match:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def split_name(name: str) -> tuple[str, str]:
    """A full name as (first, last): the last word is the last name ("Mary Anne Smith" → "Mary Anne", "Smith");
    a single word is a first name only."""
    words = name.split()
    if len(words) < 2:
        return (words[0] if words else "", "")
    return " ".join(words[:-1]), words[-1]


def _phone(record: dict) -> str:
    phones = {p.get("PhoneType"): p for p in record.get("Phones") or [] if isinstance(p, dict) and p.get("PhoneNumber")}
    for kind in _PHONE_TYPES:
        phone = phones.get(kind)
        if phone:
            parts = (phone.get("PhoneCountryCode"), phone.get("PhoneAreaCode"), phone.get("PhoneNumber"))
            return " ".join(str(p).strip() for p in parts if p and str(p).strip())
    return ""


def _addresses(record: dict) -> tuple[Address, ...]:
    addresses = []
    for native in record.get("Addresses") or []:
        if not isinstance(native, dict):
            continue
        lines = tuple(
            str(native[f"AddressLine{i}"]).strip()
            for i in range(1, 5)
            if str(native.get(f"AddressLine{i}") or "").strip()
        )
        address = Address(
            # Our contact payloads send a billing address as POBOX and a delivery address as STREET.
            kind="billing" if native.get("AddressType") == "POBOX" else "shipping",
            lines=lines,
            city=str(native.get("City") or ""),
            region=str(native.get("Region") or ""),
            postcode=str(native.get("PostalCode") or ""),
            country=str(native.get("Country") or ""),
        )
        if lines or address.city or address.postcode:
            addresses.append(address)
    # The billing address first, as sources keep their default.
    return tuple(sorted(addresses, key=lambda a: a.kind != "billing"))


def contact_from_xero(record: dict) -> Contact:
    """A Xero contact (or a contact payload we sent) as a canonical contact; source_id is the ContactID.

    First and last name come from FirstName/LastName, else from the first contact person, else from splitting the
    Name; a Name that is not the person's own is kept as the company.
    """
    name = str(record.get("Name") or "").strip()
    first, last = str(record.get("FirstName") or "").strip(), str(record.get("LastName") or "").strip()
    if not (first or last):
        person = next((p for p in record.get("ContactPersons") or [] if p.get("FirstName") or p.get("LastName")), None)
        if person:
            first, last = str(person.get("FirstName") or "").strip(), str(person.get("LastName") or "").strip()
        else:
            first, last = split_name(name)
    person_name = " ".join(part for part in (first, last) if part)
    return Contact(
        source_id=str(record.get("ContactID") or ""),
        email=str(record.get("EmailAddress") or "").strip().lower(),
        first_name=first,
        last_name=last,
        company=name if name and name != person_name else "",
        phone=_phone(record),
        tax_number=str(record.get("TaxNumber") or "").strip(),
        addresses=_addresses(record),
        is_customer=bool(record.get("IsCustomer", True)),
        is_supplier=bool(record.get("IsSupplier", False)),
        is_archived=record.get("ContactStatus") == "ARCHIVED",
        updated_at=parse_xero_date(record.get("UpdatedDateUTC")),
    )


def contact_group_names(record: dict) -> set[str]:
    """The (case-folded) names of the active contact groups a Xero contact is in."""
    return {
        str(g.get("Name") or "").strip().casefold()
        for g in record.get("ContactGroups") or []
        if isinstance(g, dict) and g.get("Status", "ACTIVE") == "ACTIVE"
    }


def stock_from_xero(item: dict) -> StockLevel | None:
    """A tracked Xero item's quantity on hand as a stock level (sku = the item code); None for untracked items."""
    if not item.get("IsTrackedAsInventory") or item.get("QuantityOnHand") is None:
        return None
    return StockLevel(sku=str(item.get("Code") or ""), quantity=from_json_number(item["QuantityOnHand"]))
