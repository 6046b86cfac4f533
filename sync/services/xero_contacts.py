"""Contacts from Xero back to sources: an initial import, then every change Xero's CONTACT webhooks announce.

Which sources take Xero contacts, and from which contact groups, is their contact policy (`contacts_from_xero`,
`import_contact_groups`; no groups: every contact). A contact already linked to a source record (a customer we
sent to Xero, or one sent from Xero before) always flows back to that record; a new one only from the chosen
groups. Partner systems receive a signed `contact.updated` webhook; sources with an adapter (Magento) get the
customer created or updated: a contact matching a customer by email, else by phone, updates it instead of making a
duplicate, and is linked from then on.

No ping-pong: a cross-reference remembers what each side held at the last sync (sync.services.conflicts), so a
Xero webhook caused by our own write finds nothing new and writes nothing, and the customer we write is recorded
at the version it now has, so polling the source does not send it back to Xero. When both sides changed a field
group, the system of record wins, else the later change; the settlement is in the audit trail.

Reads from Xero: `GET Contacts?page=&pageSize=1000` for the import, `GET Contacts?IDs=…` (≤ 50 ids a request,
research/xero.md §4) for webhook batches. All HTTP happens outside transactions; each contact's bookkeeping is its
own small transaction, so a retry after a failure re-does only what is still different.
"""

import hashlib
import json
import logging
from dataclasses import dataclass, replace

from django.db import transaction
from django.utils import timezone

from connections.canonical import Contact, fingerprint
from connections.models import Connection
from connections.paging import xero_pages
from connections.providers.xero.normalize import contact_from_xero, contact_group_names
from connections.sources import source_adapter
from core.errors import ApplicationError, NotFoundError, RetryableError
from mappings.contact_payloads import contact_field_values
from mappings.models import ContactPolicy, SystemOfRecord
from sync.models import AuditEntry, CrossReference, SourceCursor, SyncJob
from sync.services.conflicts import (
    SOURCE,
    XERO,
    changed_groups,
    conflict_settle,
    systems_of_record,
    xref_synced_values,
)

logger = logging.getLogger(__name__)

IDS_PER_REQUEST = 50
PAGE_SIZE = 1000
# The cursor row whose last_polled_at says a source's initial import is done.
IMPORT_ENTITY = "xero_contacts"
TO_SOURCE = "contact.to_source"
Group = SystemOfRecord.FieldGroup


@dataclass
class Target:
    """A source connection that takes Xero contacts, with the groups it takes (case-folded; empty: all)."""

    connection: Connection
    groups: set[str]
    owners: dict[str, str]
    adapter: object = None

    @property
    def is_partner(self) -> bool:
        return self.connection.provider == "rest"


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    emitted: int = 0
    failed: int = 0
    settled: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def contact_targets(*, tenant_id: int, source_connection: Connection | None = None) -> list[Target]:
    """The active source connections of a tenant whose contact policy takes Xero contacts."""
    policies = ContactPolicy.objects.filter(
        tenant_id=tenant_id, contacts_from_xero=True, source_connection__status=Connection.Status.ACTIVE
    ).select_related("source_connection")
    if source_connection is not None:
        policies = policies.filter(source_connection=source_connection)
    return [
        Target(
            connection=policy.source_connection,
            groups={str(name).strip().casefold() for name in policy.import_contact_groups or [] if str(name).strip()},
            owners=systems_of_record(source_connection=policy.source_connection),
        )
        for policy in policies.order_by("id")
    ]


# Entry points -------------------------------------------------------------------------------------------------


def xero_contacts_import(
    *, xero_connection: Connection, source_connection: Connection | None = None, transport=None
) -> dict:
    """The initial import: every Xero contact (1,000 a page) to each source that takes them (or to one source).

    Marks each target's import done (SourceCursor "xero_contacts"), so the scheduler runs it once per source.
    Returns counts (created, updated, unchanged, skipped, emitted, failed, settled).
    """
    from connections.providers.xero.tokens import xero_client_for

    targets = contact_targets(tenant_id=xero_connection.tenant_id, source_connection=source_connection)
    counts = Counts()
    if not targets:
        return counts.as_dict()
    client = xero_client_for(xero_connection, transport=transport)
    try:
        page: list[dict] = []
        for record in xero_pages(client, "Contacts", collection="Contacts", page_size=PAGE_SIZE):
            page.append(record)
            if len(page) == PAGE_SIZE:
                _deliver(page, targets, counts, transport=transport)
                page = []
        _deliver(page, targets, counts, transport=transport)
    finally:
        client.close()
        _close(targets)
    now = timezone.now()
    for target in targets:
        cursor, _ = SourceCursor.objects.get_or_create(
            connection=target.connection, entity=IMPORT_ENTITY, defaults={"tenant_id": target.connection.tenant_id}
        )
        SourceCursor.objects.filter(pk=cursor.pk).update(last_polled_at=now, watermark=now)
    return counts.as_dict()


def xero_contacts_changed(*, xero_connection: Connection, contact_ids, transport=None) -> dict:
    """The contacts Xero's webhooks named (many events at once): read 50 a request, delivered to every target.

    Raises RetryableError when Xero or a source is unavailable: the caller keeps its events for another try, and
    what was already written is found unchanged then.
    """
    from connections.providers.xero.tokens import xero_client_for

    ids = list(dict.fromkeys(str(i) for i in contact_ids if i))
    targets = contact_targets(tenant_id=xero_connection.tenant_id)
    counts = Counts()
    if not ids or not targets:
        return counts.as_dict()
    client = xero_client_for(xero_connection, transport=transport)
    try:
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = ids[start : start + IDS_PER_REQUEST]
            params = {"IDs": ",".join(chunk), "includeArchived": "true"}
            records = client.get("Contacts", params=params).json().get("Contacts") or []
            _deliver(records, targets, counts, transport=transport)
    finally:
        client.close()
        _close(targets)
    return counts.as_dict()


def xero_contact_events_handle(*, xero_connection: Connection, events: list[dict], transport=None) -> dict:
    """Xero CONTACT webhook events (their `resourceId`s) → xero_contacts_changed."""
    return xero_contacts_changed(
        xero_connection=xero_connection,
        contact_ids=[e.get("resourceId") for e in events if isinstance(e, dict)],
        transport=transport,
    )


def _close(targets: list[Target]) -> None:
    for target in targets:
        if target.adapter is not None:
            target.adapter.close()
            target.adapter = None


# Delivery -----------------------------------------------------------------------------------------------------


def _deliver(records: list[dict], targets: list[Target], counts: Counts, *, transport) -> None:
    if not records:
        return
    xero_ids = [str(r.get("ContactID")) for r in records if r.get("ContactID")]
    for target in targets:
        linked = {
            x.xero_id: x
            for x in CrossReference.objects.filter(
                source_connection=target.connection, entity="contact", xero_id__in=xero_ids
            ).order_by("id")
        }
        for record in records:
            xref = linked.get(str(record.get("ContactID")))
            if xref is None and (record.get("ContactStatus") == "ARCHIVED" or not _in_groups(record, target)):
                continue
            if target.is_partner:
                _to_partner(target, record, xref, counts)
                continue
            if target.adapter is None:
                target.adapter = source_adapter(target.connection, transport=transport)
            try:
                _to_source(target, record, xref, counts)
            except RetryableError:
                raise
            except ApplicationError as exc:
                if exc.code == "not_supported":
                    # This source cannot hold customers written to it (Cin7 Core, Gorgias here): said once, in the log.
                    logger.warning("connection %s takes Xero contacts but %s", target.connection.pk, exc.message)
                    counts.skipped += 1
                    break
                counts.failed += 1
                _audit(
                    target,
                    source_id=xref.source_id if xref else "",
                    xero_id=str(record.get("ContactID")),
                    outcome=AuditEntry.Outcome.NEEDS_ATTENTION,
                    detail=f"Could not write the Xero contact “{record.get('Name')}” to the source: {exc.message}",
                )


def _in_groups(record: dict, target: Target) -> bool:
    return not target.groups or bool(contact_group_names(record) & target.groups)


def _to_partner(target: Target, record: dict, xref: CrossReference | None, counts: Counts) -> None:
    """A signed contact.updated webhook, once per version of the contact (none for an echo of our own write)."""
    from sync.services.partner_webhooks import partner_event_emit

    contact = contact_from_xero(record)
    values = contact_field_values(contact)
    synced_xero, _ = xref_synced_values(xref)
    if xref is not None and not changed_groups(values, synced_xero):
        counts.unchanged += 1
        return
    data = {
        "id": contact.source_id,
        "source_id": xref.source_id if xref else None,
        "name": str(record.get("Name") or ""),
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "tax_number": contact.tax_number,
        "addresses": [
            {"lines": list(a.lines), "city": a.city, "region": a.region, "postcode": a.postcode, "country": a.country}
            for a in contact.addresses
        ],
        "groups": sorted(str(g.get("Name")) for g in record.get("ContactGroups") or [] if g.get("Name")),
        "status": str(record.get("ContactStatus") or "ACTIVE"),
        "updated_at": contact.updated_at.isoformat() if contact.updated_at else None,
    }
    # One event per version of what partners get (groups and status included), whenever Xero says it changed.
    version = hashlib.sha256(json.dumps({**data, "updated_at": None}, sort_keys=True).encode()).hexdigest()
    with transaction.atomic():
        partner_event_emit(
            connection=target.connection,
            event="contact.updated",
            data=data,
            key=f"contact:{contact.source_id}:{version}",
        )
        if xref is not None:
            xref.synced_values = {**(xref.synced_values or {}), XERO: values}
            xref.save(update_fields=["synced_values"])
    counts.emitted += 1


def _to_source(target: Target, record: dict, xref: CrossReference | None, counts: Counts) -> None:
    adapter = target.adapter
    xero_contact = contact_from_xero(record)
    xero_now = contact_field_values(xero_contact)
    synced_xero, synced_source = xref_synced_values(xref)
    if xref is not None and not changed_groups(xero_now, synced_xero):
        counts.unchanged += 1  # our own write coming back, or a change to fields no source keeps
        return

    native = None
    if xref is not None:
        try:
            native = adapter.fetch("customer", xref.source_id)
        except NotFoundError:
            native = None  # deleted in the source since: matched or created again below
    linked = native is not None
    if native is None:
        native = adapter.customer_find(email=xero_contact.email, phone=xero_contact.phone)
    source_contact = adapter.normalize("customer", native) if native is not None else None

    apply: set[str] = set()
    source_wins: set[str] = set()
    if source_contact is None:
        apply = set(xero_now)
    else:
        source_now = contact_field_values(source_contact)
        xero_changed = changed_groups(xero_now, synced_xero) if linked else set(xero_now)
        # A customer matched for the first time was never synced: every difference is settled by the rule.
        source_changed = changed_groups(source_now, synced_source) if linked else set(source_now)
        for group in xero_now:
            if xero_now[group] == source_now[group] or group not in xero_changed:
                continue
            winner = XERO
            if group in source_changed:
                winner = conflict_settle(
                    source_connection=target.connection,
                    entity="contact",
                    source_id=source_contact.source_id,
                    xero_id=xero_contact.source_id,
                    group=group,
                    source_value=source_now[group],
                    xero_value=xero_now[group],
                    source_changed_at=source_contact.updated_at,
                    xero_changed_at=xero_contact.updated_at,
                    owners=target.owners,
                ).winner
                counts.settled += 1
            (apply if winner == XERO else source_wins).add(group)

    saved_contact = source_contact
    if apply:
        merged = _merge(source_contact, xero_contact, apply)
        try:
            saved = adapter.customer_save(merged, source_id=source_contact.source_id if source_contact else None)
        except ApplicationError as exc:
            if exc.code != "customer_incomplete":
                raise
            counts.skipped += 1
            _audit(
                target,
                source_id="",
                xero_id=xero_contact.source_id,
                outcome=AuditEntry.Outcome.SKIPPED,
                detail=f"Xero contact “{record.get('Name')}” not sent: {exc.message}",
            )
            return
        saved_contact = adapter.normalize("customer", saved)
    _link(target, xero_contact, xero_now, saved_contact, xref, send_back=bool(source_wins))
    if source_contact is None:
        counts.created += 1
        outcome, what = AuditEntry.Outcome.CREATED, "created from the Xero contact"
    elif apply:
        counts.updated += 1
        outcome = AuditEntry.Outcome.UPDATED if linked else AuditEntry.Outcome.MATCHED
        what = "updated from the Xero contact" if linked else "matched by email or phone and updated"
    else:
        counts.unchanged += 1
        return
    _audit(
        target,
        source_id=saved_contact.source_id,
        xero_id=xero_contact.source_id,
        outcome=outcome,
        detail=f"Customer {saved_contact.source_id} {what} ({', '.join(sorted(str(g) for g in apply))}).",
        request=contact_field_values(saved_contact),
    )


def _merge(source: Contact | None, xero: Contact, groups: set[str]) -> Contact:
    """The source's contact with the given groups taken from Xero's."""
    if source is None:
        return replace(xero, source_id="")
    merged = source
    if Group.CONTACT_DETAILS in groups:
        merged = replace(
            merged,
            first_name=xero.first_name,
            last_name=xero.last_name,
            email=xero.email,
            phone=xero.phone,
            company=xero.company or merged.company,
            addresses=xero.addresses or merged.addresses,
        )
    if Group.TAX_NUMBER in groups:
        merged = replace(merged, tax_number=xero.tax_number)
    return merged


def _link(target, xero_contact: Contact, xero_now: dict, saved: Contact, xref, *, send_back: bool) -> None:
    """Remember the pair and what each side now holds; send the source's winning groups to Xero, or make sure no
    stale version of the customer is sent over Xero's."""
    from sync.services.staging import jobs_stage

    now = timezone.now()
    version = fingerprint(saved)
    with transaction.atomic():
        xref = (
            CrossReference.objects.select_for_update()
            .filter(source_connection=target.connection, entity="contact", source_id=saved.source_id)
            .first()
        )
        values = {XERO: xero_now, SOURCE: contact_field_values(saved)}
        if xref is None:
            CrossReference.objects.create(
                tenant_id=target.connection.tenant_id,
                source_connection=target.connection,
                entity="contact",
                source_id=saved.source_id,
                xero_id=xero_contact.source_id,
                # Polling reads this very version back: staging then finds it synced and sends nothing to Xero.
                source_version="" if send_back else version,
                payload_hash="",
                synced_values=values,
                synced_at=now,
            )
        else:
            xref.xero_id = xero_contact.source_id
            xref.synced_values = values
            xref.synced_at = now
            if not send_back:
                xref.source_version = version
            xref.save(update_fields=["xero_id", "synced_values", "synced_at", "source_version"])
        if send_back:
            jobs_stage(source_connection=target.connection, entity="contact", record=saved)
        else:
            SyncJob.objects.filter(
                source_connection=target.connection,
                entity="contact",
                source_id=saved.source_id,
                state__in=(SyncJob.State.PENDING, SyncJob.State.NEEDS_ATTENTION),
            ).update(
                state=SyncJob.State.DISCARDED,
                discard_reason="Settled: Xero's version of the contact was written to the source.",
                finished_at=now,
            )


def _audit(target: Target, *, source_id: str, xero_id: str, outcome: str, detail: str, request=None) -> None:
    AuditEntry.objects.create(
        tenant_id=target.connection.tenant_id,
        entity="contact",
        source_id=source_id,
        xero_id=xero_id,
        operation=TO_SOURCE,
        outcome=outcome,
        detail=detail[:500],
        request=request,
    )
