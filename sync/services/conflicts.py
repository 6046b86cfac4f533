"""Conflicts between a source and Xero, settled per field group and written to the audit trail.

A cross-reference remembers, per side, the field-group values it held at the last sync (`synced_values`). A side
whose values differ now has changed since; when both changed a group to different values, the group's system of
record (mappings.models.SystemOfRecord) wins, else the later modification. Every settlement is an audit entry with
both values and the rule applied.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from connections.canonical import Contact
from connections.models import Connection
from connections.providers.xero.normalize import contact_from_xero
from mappings.contact_payloads import XERO_CONTACT_FIELDS, contact_field_values
from mappings.lines import source_name
from mappings.models import SystemOfRecord
from sync.models import AuditEntry, CrossReference

XERO, SOURCE = "xero", "source"
GROUP_LABELS = dict(SystemOfRecord.FieldGroup.choices)
SETTLE_OPERATION = "conflict.settle"


@dataclass(frozen=True)
class Settlement:
    group: str
    winner: str  # "xero" or "source"
    rule: str  # "system_of_record" or "later_change"


def systems_of_record(*, source_connection: Connection) -> dict[str, str]:
    """Field group → owner ("xero" or "source") for one source; groups without one are absent."""
    return dict(SystemOfRecord.objects.filter(source_connection=source_connection).values_list("field_group", "owner"))


def changed_groups(current: dict, synced: dict | None) -> set[str]:
    """The groups whose values differ from those at the last sync (all of them when nothing was synced yet)."""
    synced = synced or {}
    return {group for group, values in current.items() if synced.get(group) != values}


def conflict_settle(
    *,
    source_connection: Connection,
    entity: str,
    source_id: str,
    xero_id: str,
    group: str,
    source_value,
    xero_value,
    source_changed_at: datetime | None,
    xero_changed_at: datetime | None,
    owners: dict[str, str],
) -> Settlement:
    """Decide who wins a group both sides changed, and record the decision with both values."""
    owner = owners.get(group)
    if owner in (XERO, SOURCE):
        settlement = Settlement(group, owner, "system_of_record")
    elif source_changed_at is not None and (xero_changed_at is None or source_changed_at > xero_changed_at):
        settlement = Settlement(group, SOURCE, "later_change")
    else:
        # Xero's change is later, or the times cannot tell: Xero, the books, wins.
        settlement = Settlement(group, XERO, "later_change")
    source_label = source_name(source_connection)
    winner = "Xero" if settlement.winner == XERO else source_label
    if settlement.rule == "system_of_record":
        why = f"{winner} is the system of record for {GROUP_LABELS.get(group, group).lower()}"
    else:
        why = (
            f"its change is the later one ({_when(source_changed_at)} in the source, {_when(xero_changed_at)} in Xero)"
        )
    request = {"group": group, "source": source_value, "xero": xero_value, "source_connection": source_connection.pk}
    if _already_settled(entity=entity, source_id=source_id, request=request, winner=settlement.winner):
        return settlement
    AuditEntry.objects.create(
        tenant_id=source_connection.tenant_id,
        entity=entity,
        source_id=source_id,
        xero_id=xero_id,
        operation=SETTLE_OPERATION,
        outcome=AuditEntry.Outcome.SETTLED,
        detail=f"{GROUP_LABELS.get(group, group)} differs between Xero and {source_label}: {winner} wins, {why}."[:500],
        request=request,
        response={
            "winner": settlement.winner,
            "rule": settlement.rule,
            "source_changed_at": _when(source_changed_at),
            "xero_changed_at": _when(xero_changed_at),
        },
    )
    return settlement


def _already_settled(*, entity: str, source_id: str, request: dict, winner: str) -> bool:
    """The record's last settlement of this group was the same values with the same winner: the same conflict met
    again (a send retried, a payload rebuilt), not a new one, so it is not audited twice."""
    last = (
        AuditEntry.objects.filter(
            entity=entity, source_id=source_id, operation=SETTLE_OPERATION, request__group=request["group"]
        )
        .order_by("-id")
        .values("request", "response")
        .first()
    )
    return (
        last is not None
        and last["request"] == json.loads(json.dumps(request))
        and (last["response"].get("winner") == winner)
    )


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "unknown"


# What the contact flows remember --------------------------------------------------------------------------------


def xero_contact_values(record: dict) -> dict[str, dict]:
    """The field-group values of a Xero contact (as Xero answers it, or as we sent it)."""
    return contact_field_values(contact_from_xero(record))


def synced_values_after_send(*, previous: dict | None, payload: dict, contact: Contact) -> dict:
    """After a contact upsert reached Xero: Xero now holds the groups the payload carried (a group it owns was left
    out and keeps its value), and the source's current values are the ones synced."""
    previous = previous or {}
    sent = xero_contact_values(payload)
    xero = dict(previous.get(XERO) or {})
    for group, fields in XERO_CONTACT_FIELDS.items():
        if any(name in payload for name in fields):
            xero[group] = sent[group]
    return {XERO: xero, SOURCE: contact_field_values(contact)}


def xref_synced_values(xref: CrossReference | None) -> tuple[dict, dict]:
    """(xero, source) values at the last sync, empty when never synced."""
    values = (xref.synced_values if xref else None) or {}
    return values.get(XERO) or {}, values.get(SOURCE) or {}
