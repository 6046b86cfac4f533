"""Classifying a backfill's records: what each would become in Xero (created, matched, updated, unchanged,
skipped or blocked, with causes). The same classification drives the dry run's report and the real run's
linking and staging (sync.services.backfill)."""

from dataclasses import dataclass, field

from connections.canonical import fingerprint
from connections.models import Connection
from connections.providers.xero import accounting
from mappings import payloads as mapping
from mappings.cache import mapping_cache
from mappings.lines import Problem
from mappings.rules import MappingSet, external_contact_number
from mappings.services import source_values_observe_many
from sync.models import CrossReference

# The Xero record each source entity becomes (its cross-reference entity).
XERO_ENTITY = {
    "customer": "contact",
    "product": "item",
    "order": "invoice",
    "payment": "payment",
    "refund": "credit_note",
}
OUTCOMES = ("created", "matched", "updated", "unchanged", "skipped", "blocked")
# Stands in for the Xero id of a dependency that the backfill itself would create, so its payload can be checked.
PLANNED_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class Line:
    """One source record and what it would become in Xero."""

    entity: str  # as users name it: orders, contacts, …
    source: Connection
    record: object
    outcome: str = "created"
    causes: list = field(default_factory=list)  # mappings.lines.Problem
    xero_id: str = ""
    xero_number: str = ""
    lookup: tuple[str, str, str] | None = None  # (Xero entity, field, value) it is found by in Xero


@dataclass
class Plan:
    """What classifying one chunk needs from the chunks before it."""

    client: object  # a XeroClient, for the natural-key lookups
    dry_run: bool
    # Orders whose invoice is (or would be) in Xero, and those that would be blocked: payments and refunds wait
    # for them. Ids only, so memory stays small.
    invoices: set = field(default_factory=set)
    blocked_orders: set = field(default_factory=set)


def records_classify(*, plan: Plan, xero, adapter, entity: str, name: str, records: list) -> list[Line]:
    """What each of a chunk of records of one source `entity` (shown to users as `name`) would become in Xero.

    Reads our cross-references, the tenant's mappings and (batched) Xero; writes nothing but, for a dry run, the
    source values seen (tax keys, payment methods), which feed mapping suggestions and the gaps reported.
    """
    source = adapter.connection
    xero_entity = XERO_ENTITY[entity]
    xrefs = {
        x.source_id: x
        for x in CrossReference.objects.filter(
            source_connection=source, entity=xero_entity, source_id__in=[r.source_id for r in records]
        )
    }
    order_xrefs = set()
    if entity in ("payment", "refund"):
        order_xrefs = set(
            CrossReference.objects.filter(
                source_connection=source, entity="invoice", source_id__in=[r.order_source_id for r in records]
            ).values_list("source_id", flat=True)
        )
    if plan.dry_run:
        # A real run records these when staging.
        source_values_observe_many(source_connection=source, records=records)
    lines = []
    with mapping_cache():
        for record in records:
            line = Line(entity=name, source=source, record=record)
            lines.append(line)
            xref = xrefs.get(record.source_id)
            if entity == "order" and record.is_cancelled:
                if xref:
                    line.outcome, line.xero_id = "updated", xref.xero_id
                    line.causes.append(Problem("cancelled", "Cancelled in the source: its invoice would be voided."))
                else:
                    line.outcome = "skipped"
                    line.causes.append(
                        Problem("cancelled", "Cancelled before its invoice reached Xero: nothing to send.")
                    )
                continue
            if xref:
                line.xero_id = xref.xero_id
                line.outcome = "unchanged" if xref.source_version == fingerprint(record) else "updated"
                continue
            if entity in ("payment", "refund"):
                order_id = record.order_source_id
                if order_id not in order_xrefs and order_id not in plan.invoices:
                    line.outcome = "blocked"
                    line.causes.append(
                        Problem("invoice_blocked", f"Waits for the invoice of order {order_id}, which is blocked.")
                        if order_id in plan.blocked_orders
                        else Problem(
                            "invoice_missing",
                            f"The invoice of order {order_id} is not in Xero and not part of this backfill.",
                        )
                    )
                    continue
            built = _payload(xero, adapter, entity, record)
            line.lookup = _natural_key(source, entity, record, built)
            if built.problems:
                line.outcome = "blocked"
                line.causes += list(built.problems)
    _match(plan, lines)
    for line in lines:
        if entity == "order":
            if line.outcome in ("created", "matched", "updated", "unchanged"):
                plan.invoices.add(line.record.source_id)
            elif line.outcome == "blocked":
                plan.blocked_orders.add(line.record.source_id)
    return lines


def _payload(xero, adapter, entity: str, record):
    """The payload the drain would build, with a placeholder for the Xero ids of dependencies (only its
    problems and natural key are used)."""
    common = {"source_connection": adapter.connection, "xero_connection": xero}
    if entity == "customer":
        return mapping.contact_payload(**common, contact=record)
    if entity == "product":
        return mapping.item_payload(**common, product=record)
    if entity == "order":
        return mapping.invoice_payload(**common, order=record, contact_xero_id=PLANNED_ID)
    if entity == "payment":
        return mapping.payment_payload(**common, payment=record, invoice_xero_id=PLANNED_ID)
    # A credit note takes its tax basis and accounts from its order, read from the source.
    order = adapter.normalize("order", adapter.fetch("order", record.order_source_id))
    return mapping.credit_note_payload(**common, refund=record, contact_xero_id=PLANNED_ID, order=order)


def _natural_key(source, entity: str, record, built) -> tuple[str, str, str] | None:
    """(Xero entity, field, value) a record is found by in Xero, or None for those without one (payments, …)."""
    payload = built.payload or {}
    if entity == "customer":
        return "contact", "ContactNumber", external_contact_number(source_connection=source, source_id=record.source_id)
    if entity == "product":
        return "item", "Code", payload.get("Code") or MappingSet.load(source).item_code_for(record.sku)
    if entity == "order":
        totals = next((e for e in built.explanation if e.get("kind") == "totals"), {})
        number = payload.get("InvoiceNumber") or totals.get("invoice_number", "")
        if number and number != "(Xero numbering)":
            return "invoice", "InvoiceNumber", number
        return "invoice", "Reference", payload.get("Reference") or totals.get("reference") or record.number
    return None


def _match(plan: Plan, lines: list[Line]) -> None:
    """Look the chunk's natural keys up in Xero (batched) and mark what exists there as matched."""
    wanted: dict[tuple[str, str], list[Line]] = {}
    for line in lines:
        if line.lookup and line.outcome in ("created", "blocked"):
            wanted.setdefault(line.lookup[:2], []).append(line)
    for (xero_entity, field_name), group in wanted.items():
        found = accounting.find_by(plan.client, xero_entity, field_name, [line.lookup[2] for line in group])
        _, _, id_field = accounting.COLLECTIONS[xero_entity]
        for line in group:
            record = found.get(line.lookup[2])
            if record is None or (xero_entity == "invoice" and record.get("Type", "ACCREC") != "ACCREC"):
                continue
            line.outcome, line.causes = "matched", []
            line.xero_id = str(record[id_field])
            line.xero_number = str(record.get("InvoiceNumber") or record.get(field_name) or "")[:100]
