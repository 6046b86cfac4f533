"""A store already synced into Xero, built directly: what bench_reconcile reconciles.

Syncing 50,000 orders through the engine takes about half an hour, so the synced state is built the way the engine
would leave it, without its HTTP round trips and job bookkeeping:
- the source records are read through the source adapter and normalised exactly as the sync reads them;
- every Xero payload comes from the engine's own builders (mappings.payloads) with the tenant's mappings, and a
  record a builder refuses is left out, as the sync would hold it;
- the payloads are written by the Xero simulator's own write services (totals, per-line tax rounding, payments
  settling invoices), 500 to a batch, as its batch endpoints do;
- the cross-references are written as the drain writes them (Xero id, number, source version, payload hash).
One thing a sync does not do is settled here: refunds' credit notes are marked refunded in cash (as the shop's
bookkeeper would), so "unallocated credit" is a finding that is injected, not one every refund carries.
"""

import hashlib
import json
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connections.canonical import fingerprint
from connections.sources import source_adapter
from core import jsonexact
from core.errors import SkippableRecordError
from mappings.cache import mapping_cache
from mappings.payloads import contact_payload, credit_note_payload, invoice_payload, payment_payload
from mappings.policies import invoice_contact, order_invoice_decision
from sandbox.transport import SandboxTransport
from sandbox.xero import wire
from sandbox.xero.errors import ElementInvalid
from sandbox.xero.models import CreditNote, Organisation
from sandbox.xero.services.contacts import contact_refs, contact_write
from sandbox.xero.services.documents import document_write, documents_prefetch
from sandbox.xero.services.payments import payment_create, payments_prefetch
from sandbox.xero.services.workspace import Workspace
from sync.models import CrossReference
from tenants.scoping import tenant_scope

CHUNK = 500
ROUNDING = "Rounding adjustment"


@dataclass
class SyncedState:
    """What the build wrote, and what the sync would have held back (the findings a clean run must report)."""

    held: set = field(default_factory=set)  # (kind, entity, key) a correct run finds without any injection
    contacts: dict = field(default_factory=dict)  # contact source id -> Xero contact id
    invoices: dict = field(default_factory=dict)  # order source id -> Xero invoice id
    payments: dict = field(default_factory=dict)  # payment source id -> Xero payment id
    credit_notes: dict = field(default_factory=dict)  # refund source id -> Xero credit note id
    paid_orders: set = field(default_factory=set)
    refunded_orders: set = field(default_factory=set)
    counts: dict = field(default_factory=dict)


def _hash(payload) -> str:
    return hashlib.sha256(jsonexact.dumps(payload).encode()).hexdigest()


def _as_sent(payload: dict) -> dict:
    """The payload as the simulator receives it over HTTP (JSON text parsed with exact decimals)."""
    return wire.loads(json.dumps(payload).encode())


def _write(org, kind: str, payloads: list[dict]) -> list:
    """Write a batch with the simulator's services in one workspace, read ahead as its batch endpoints do:
    the written record per payload, or None where Xero would refuse it."""
    with transaction.atomic():
        return _write_batch(org, kind, payloads)


def _write_batch(org, kind: str, payloads: list[dict]) -> list:
    ws = Workspace(org)
    if kind == "contact":
        refs = contact_refs(payloads)
        ws.contacts_load(numbers=refs["numbers"], names=refs["names"])
    elif kind == "payment":
        payments_prefetch(ws=ws, elements=payloads)
    else:
        documents_prefetch(ws=ws, elements=payloads, kind=kind, document_id=None)
    written = []
    for payload in payloads:
        try:
            with ws.element():
                if kind == "contact":
                    record, _ = contact_write(org=org, data=payload, create_only=True, ws=ws)
                elif kind == "payment":
                    record = payment_create(org=org, data=payload, ws=ws)
                else:
                    record, _ = document_write(org=org, data=payload, kind=kind, create_only=True, unitdp=4, ws=ws)
        except ElementInvalid:
            record = None
        written.append(record)
    ws.flush()
    return written


def synced_state_build(*, tenant, xero, source) -> SyncedState:
    """Write the source's records into the tenant's Xero organisation as a completed sync would have."""
    state = SyncedState()
    org = Organisation.objects.get(tenant_id=xero.external_account_id)
    now = timezone.now()
    with tenant_scope(tenant), mapping_cache(), source_adapter(source, transport=SandboxTransport()) as adapter:
        orders = {}
        for _, _, native in adapter.changed("order", since=None):
            order = adapter.normalize("order", native)
            orders[order.source_id] = order
        payments = [adapter.normalize("payment", n) for _, _, n in adapter.changed("payment", since=None)]
        refunds = []
        for _, _, native in adapter.changed("refund", since=None):
            try:
                refunds.append(adapter.normalize("refund", native))
            except SkippableRecordError:
                continue  # not refunded: the sync skips it too
        common = {"source_connection": source, "xero_connection": xero}
        xrefs = []

        def xref(entity, source_id, record, xero_id, number, payload):
            xrefs.append(
                CrossReference(
                    tenant=tenant,
                    source_connection=source,
                    entity=entity,
                    source_id=source_id,
                    xero_id=xero_id,
                    xero_number=number or "",
                    source_version=fingerprint(record),
                    payload_hash=_hash(payload),
                    synced_at=now,
                )
            )

        # Contacts: the customer each invoiced order goes to.
        to_invoice, contacts = [], {}
        for order in orders.values():
            if not order_invoice_decision(source_connection=source, order=order)[0]:
                continue
            contact = invoice_contact(source_connection=source, order=order)
            to_invoice.append((order, contact))
            if contact is not None:
                contacts.setdefault(contact.source_id, contact)
        contact_ids = state.contacts

        def contacts_write(batch, *, name_taken: bool) -> list:
            built = [contact_payload(**common, contact=c, existing_xero_id=None, name_taken=name_taken) for c in batch]
            sent = [(c, b.payload) for c, b in zip(batch, built, strict=True) if b.payload]
            refused = [c for c, b in zip(batch, built, strict=True) if not b.payload]
            written = _write(org, "contact", [_as_sent(p) for _, p in sent])
            for (contact, payload), record in zip(sent, written, strict=True):
                if record is None:
                    refused.append(contact)
                    continue
                contact_ids[contact.source_id] = str(record.id)
                xref("contact", contact.source_id, contact, str(record.id), "", payload)
            return refused

        contact_list = list(contacts.values())
        for start in range(0, len(contact_list), CHUNK):
            refused = contacts_write(contact_list[start : start + CHUNK], name_taken=False)
            # Xero refused a name as taken: the collision policy decides, as the drain does on its retry.
            for contact in contacts_write(refused, name_taken=True) if refused else ():
                state.held.add(("missing_in_xero", "contact", contact.source_id))

        # Invoices.
        for start in range(0, len(to_invoice), CHUNK):
            chunk = to_invoice[start : start + CHUNK]
            sent = []
            for order, contact in chunk:
                contact_id = contact_ids.get(contact.source_id) if contact else None
                built = invoice_payload(**common, order=order, contact_xero_id=contact_id) if contact_id else None
                if built is None or not built.payload:
                    state.held.add(("missing_in_xero", "invoice", order.source_id))
                    continue
                sent.append((order, built.payload))
            written = _write(org, "invoice", [_as_sent(p) for _, p in sent])
            for (order, payload), record in zip(sent, written, strict=True):
                if record is None:
                    state.held.add(("missing_in_xero", "invoice", order.source_id))
                    continue
                state.invoices[order.source_id] = str(record.id)
                xref("invoice", order.source_id, order, str(record.id), record.invoice_number, payload)
                if any(line.get("Description") == ROUNDING for line in payload["LineItems"]):
                    state.held.add(("rounding_adjustment", "invoice", order.source_id))

        # Payments, on the invoices that are in Xero.
        for start in range(0, len(payments), CHUNK):
            chunk = payments[start : start + CHUNK]
            sent = []
            for payment in chunk:
                invoice_id = state.invoices.get(payment.order_source_id)
                built = payment_payload(**common, payment=payment, invoice_xero_id=invoice_id) if invoice_id else None
                if built is None or not built.payload:
                    state.held.add(("missing_in_xero", "payment", payment.source_id))
                    continue
                sent.append((payment, built.payload))
            written = _write(org, "payment", [_as_sent(p) for _, p in sent])
            for (payment, payload), record in zip(sent, written, strict=True):
                if record is None:
                    state.held.add(("missing_in_xero", "payment", payment.source_id))
                    continue
                state.paid_orders.add(payment.order_source_id)
                state.payments[payment.source_id] = str(record.id)
                xref("payment", payment.source_id, payment, str(record.id), "", payload)

        # An order paid in the source whose payment could not be sent is unpaid in Xero.
        source_paid = {}
        for payment in payments:
            source_paid[payment.order_source_id] = source_paid.get(payment.order_source_id, 0) + payment.amount
        for payment in payments:
            order = orders.get(payment.order_source_id)
            if (
                payment.source_id not in state.payments
                and order is not None
                and order.source_id in state.invoices
                and 0 < order.grand_total <= source_paid[order.source_id]
            ):
                state.held.add(("status_differs", "invoice", order.source_id))

        # Credit notes, against the refunded order's invoice contact.
        for start in range(0, len(refunds), CHUNK):
            chunk = refunds[start : start + CHUNK]
            sent = []
            for refund in chunk:
                order = orders.get(refund.order_source_id)
                contact = invoice_contact(source_connection=source, order=order) if order else None
                contact_id = contact_ids.get(contact.source_id) if contact else None
                in_xero = refund.order_source_id in state.invoices
                built = (
                    credit_note_payload(**common, refund=refund, contact_xero_id=contact_id, order=order)
                    if contact_id and in_xero
                    else None
                )
                if built is None or not built.payload:
                    state.held.add(("missing_in_xero", "credit_note", refund.source_id))
                    continue
                sent.append((refund, built.payload))
            written = _write(org, "creditnote", [_as_sent(p) for _, p in sent])
            for (refund, payload), record in zip(sent, written, strict=True):
                if record is None:
                    state.held.add(("missing_in_xero", "credit_note", refund.source_id))
                    continue
                state.credit_notes[refund.source_id] = str(record.id)
                state.refunded_orders.add(refund.order_source_id)
                xref("credit_note", refund.source_id, refund, str(record.id), record.credit_note_number, payload)
        # The bookkeeper refunds each credit note in cash.
        settled = CreditNote.objects.filter(id__in=list(state.credit_notes.values()), status="AUTHORISED")
        settled.update(amount_paid=F("total"), status="PAID")
        with transaction.atomic():
            CrossReference.objects.bulk_create(xrefs, batch_size=2000)
    state.counts = {
        "orders": len(orders),
        "contacts": len(contact_ids),
        "invoices": len(state.invoices),
        "payments": len(state.payments),
        "credit_notes": len(state.credit_notes),
    }
    return state
