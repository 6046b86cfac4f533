"""A store already synced into Xero, built directly: what bench_reconcile reconciles.

Syncing 50,000 orders through the engine takes about half an hour, so the synced state is built the way the engine
would leave it, without its HTTP round trips and job bookkeeping:
- the source records are the simulated store's own documents (what its API answers, byte for byte), read from its
  tables a chunk of orders at a time, given their order's context as the adapter's list reads give it, and
  normalised by the adapter exactly as the sync normalises them;
- every Xero payload comes from the engine's own builders (mappings.payloads) with the tenant's mappings, and a
  record a builder refuses is left out, as the sync would hold it;
- the payloads are written by the Xero simulator's own write services (totals, per-line tax rounding, payments
  settling invoices), a chunk of orders with their contacts, payments and refunds in one workspace flushed once;
- the cross-references are written as the drain writes them (Xero id, number, source version, payload hash).
One thing a sync does not do is settled here: refunds' credit notes are marked refunded in cash (as the shop's
bookkeeper would), so "unallocated credit" is a finding that is injected, not one every refund carries.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from connections.canonical import fingerprint
from connections.providers.magento.adapter import order_context
from connections.providers.magento.normalize import INVOICE_PAID
from connections.sources import source_adapter
from core import jsonexact
from core.bulk import rows_insert
from core.errors import SkippableRecordError
from mappings.cache import mapping_cache
from mappings.payloads import contact_payload, credit_note_payload, invoice_payload, payment_payload
from mappings.policies import invoice_contact, order_invoice_decision
from sandbox.magento.models import CreditMemo as NativeCreditMemo
from sandbox.magento.models import Invoice as NativeInvoice
from sandbox.magento.models import Order as NativeOrder
from sandbox.transport import SandboxTransport
from sandbox.xero import wire
from sandbox.xero.errors import ElementInvalid
from sandbox.xero.models import Organisation
from sandbox.xero.services.contacts import contact_refs, contact_write
from sandbox.xero.services.documents import document_write, documents_prefetch
from sandbox.xero.services.payments import payment_create, payments_prefetch
from sandbox.xero.services.workspace import Workspace
from sync.models import CrossReference
from tenants.scoping import tenant_scope

CHUNK = 200  # orders per workspace: few statements per chunk, while its in-memory lookups stay short
ROUNDING = "Rounding adjustment"


@dataclass
class SyncedState:
    """What the build wrote, and what the sync would have held back (the findings a clean run must report)."""

    held: set = field(default_factory=set)  # (kind, entity, key) a correct run finds without any injection
    contacts: dict = field(default_factory=dict)  # contact source id -> Xero contact id
    contacts_tried: set = field(default_factory=set)  # contact source ids sent (or held), once each
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


class _Chunk:
    """One chunk of orders written into Xero in one simulator workspace, flushed once with its cross-references."""

    def __init__(self, *, org, tenant, source, xero, state: SyncedState, now):
        self.org, self.tenant, self.source, self.state, self.now = org, tenant, source, state, now
        self.common = {"source_connection": source, "xero_connection": xero}
        self.ws = Workspace(org)
        # Nothing is answered element by element here, so a payment settling an invoice written earlier in the
        # chunk needs no flush in between: each row is inserted once, as it stands at the end of the chunk.
        self.ws.on_segment_end = lambda: None
        self.xrefs: list[CrossReference] = []

    def write(self, kind: str, payloads: list[dict]) -> list:
        """Write payloads with the simulator's services, read ahead as its batch endpoints do: the written record
        per payload, or None where Xero would refuse it."""
        ws = self.ws
        payloads = [_as_sent(p) for p in payloads]
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
                        record, _ = contact_write(org=self.org, data=payload, create_only=True, ws=ws)
                    elif kind == "payment":
                        record = payment_create(org=self.org, data=payload, ws=ws)
                    else:
                        record, _ = document_write(
                            org=self.org, data=payload, kind=kind, create_only=True, unitdp=4, ws=ws
                        )
            except ElementInvalid:
                record = None
            written.append(record)
        return written

    def xref(self, entity: str, source_id: str, record, xero_id: str, number: str, payload: dict) -> None:
        self.xrefs.append(
            CrossReference(
                tenant=self.tenant,
                source_connection=self.source,
                entity=entity,
                source_id=source_id,
                xero_id=xero_id,
                xero_number=number or "",
                source_version=fingerprint(record),
                payload_hash=_hash(payload),
                synced_at=self.now,
            )
        )

    def flush(self) -> None:
        self.ws.flush()
        rows_insert(CrossReference, self.xrefs)

    def contacts(self, contacts: list) -> None:
        """The customers the chunk's invoices go to that are not in Xero yet."""
        state, common = self.state, self.common
        state.contacts_tried.update(c.source_id for c in contacts)

        def attempt(batch, *, name_taken: bool) -> list:
            built = [contact_payload(**common, contact=c, existing_xero_id=None, name_taken=name_taken) for c in batch]
            sent = [(c, b.payload) for c, b in zip(batch, built, strict=True) if b.payload]
            refused = [c for c, b in zip(batch, built, strict=True) if not b.payload]
            for (contact, payload), record in zip(sent, self.write("contact", [p for _, p in sent]), strict=True):
                if record is None:
                    refused.append(contact)
                    continue
                state.contacts[contact.source_id] = str(record.id)
                self.xref("contact", contact.source_id, contact, str(record.id), "", payload)
            return refused

        refused = attempt(contacts, name_taken=False)
        # Xero refused a name as taken: the collision policy decides, as the drain does on its retry.
        for contact in attempt(refused, name_taken=True) if refused else ():
            state.held.add(("missing_in_xero", "contact", contact.source_id))

    def invoices(self, to_invoice: list) -> None:
        state, sent = self.state, []
        for order, contact in to_invoice:
            contact_id = state.contacts.get(contact.source_id) if contact else None
            built = invoice_payload(**self.common, order=order, contact_xero_id=contact_id) if contact_id else None
            if built is None or not built.payload:
                state.held.add(("missing_in_xero", "invoice", order.source_id))
                continue
            sent.append((order, built.payload))
        for (order, payload), record in zip(sent, self.write("invoice", [p for _, p in sent]), strict=True):
            if record is None:
                state.held.add(("missing_in_xero", "invoice", order.source_id))
                continue
            state.invoices[order.source_id] = str(record.id)
            self.xref("invoice", order.source_id, order, str(record.id), record.invoice_number, payload)
            if any(line.get("Description") == ROUNDING for line in payload["LineItems"]):
                state.held.add(("rounding_adjustment", "invoice", order.source_id))

    def payments(self, payments: list, orders: dict) -> None:
        """Payments on the invoices that are in Xero; an order paid in the source whose payment could not be sent
        is unpaid in Xero."""
        state, sent = self.state, []
        for payment in payments:
            invoice_id = state.invoices.get(payment.order_source_id)
            built = payment_payload(**self.common, payment=payment, invoice_xero_id=invoice_id) if invoice_id else None
            if built is None or not built.payload:
                state.held.add(("missing_in_xero", "payment", payment.source_id))
                continue
            sent.append((payment, built.payload))
        for (payment, payload), record in zip(sent, self.write("payment", [p for _, p in sent]), strict=True):
            if record is None:
                state.held.add(("missing_in_xero", "payment", payment.source_id))
                continue
            state.paid_orders.add(payment.order_source_id)
            state.payments[payment.source_id] = str(record.id)
            self.xref("payment", payment.source_id, payment, str(record.id), "", payload)
        source_paid = defaultdict(int)
        for payment in payments:
            source_paid[payment.order_source_id] += payment.amount
        for payment in payments:
            order = orders.get(payment.order_source_id)
            if (
                payment.source_id not in state.payments
                and order is not None
                and order.source_id in state.invoices
                and 0 < order.grand_total <= source_paid[order.source_id]
            ):
                state.held.add(("status_differs", "invoice", order.source_id))

    def credit_notes(self, refunds: list, orders: dict) -> None:
        """Credit notes against the refunded order's invoice contact, refunded in cash by the bookkeeper."""
        state, sent = self.state, []
        for refund in refunds:
            order = orders.get(refund.order_source_id)
            contact = invoice_contact(source_connection=self.source, order=order) if order else None
            contact_id = state.contacts.get(contact.source_id) if contact else None
            in_xero = refund.order_source_id in state.invoices
            built = (
                credit_note_payload(**self.common, refund=refund, contact_xero_id=contact_id, order=order)
                if contact_id and in_xero
                else None
            )
            if built is None or not built.payload:
                state.held.add(("missing_in_xero", "credit_note", refund.source_id))
                continue
            sent.append((refund, built.payload))
        for (refund, payload), record in zip(sent, self.write("creditnote", [p for _, p in sent]), strict=True):
            if record is None:
                state.held.add(("missing_in_xero", "credit_note", refund.source_id))
                continue
            state.credit_notes[refund.source_id] = str(record.id)
            state.refunded_orders.add(refund.order_source_id)
            self.xref("credit_note", refund.source_id, refund, str(record.id), record.credit_note_number, payload)
            if record.status == "AUTHORISED":
                # Still unflushed: the row is inserted refunded.
                record.amount_paid, record.status = record.total, "PAID"


def _source_chunks(adapter, store_code: str):
    """The store's orders, oldest first, a chunk at a time, with the paid invoices (payments) and credit memos
    (refunds) of those orders, each given its order's context and normalised as the sync normalises it."""
    orders_of_store = NativeOrder.objects.filter(store__code=store_code)
    ids = list(orders_of_store.order_by("entity_id").values_list("entity_id", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        natives = dict(orders_of_store.filter(entity_id__in=chunk).values_list("entity_id", "document"))
        natives = {entity_id: json.loads(document) for entity_id, document in natives.items()}
        orders = {}
        for entity_id in chunk:
            order = adapter.normalize("order", natives[entity_id])
            orders[order.source_id] = order
        paid = NativeInvoice.objects.filter(store__code=store_code, order_id__in=chunk, state=INVOICE_PAID)
        payments = [
            adapter.normalize("payment", order_context("payment", json.loads(document), natives.get(order_id)))
            for order_id, document in paid.order_by("entity_id").values_list("order_id", "document")
        ]
        refunds = []
        memos = NativeCreditMemo.objects.filter(store__code=store_code, order_id__in=chunk).order_by("entity_id")
        for order_id, document in memos.values_list("order_id", "document"):
            try:
                refunds.append(
                    adapter.normalize("refund", order_context("refund", json.loads(document), natives.get(order_id)))
                )
            except SkippableRecordError:
                continue  # not refunded: the sync skips it too
        yield orders, payments, refunds


def _chunk_write(chunk: _Chunk, orders: dict, payments: list, refunds: list) -> None:
    """A chunk of orders as the sync leaves them: contacts, invoices, payments, credit notes, cross-references."""
    source, state = chunk.source, chunk.state
    # Contacts: the customers the invoiced orders go to, each tried once.
    to_invoice, contacts = [], {}
    for order in orders.values():
        if not order_invoice_decision(source_connection=source, order=order)[0]:
            continue
        contact = invoice_contact(source_connection=source, order=order)
        to_invoice.append((order, contact))
        if contact is not None and contact.source_id not in state.contacts_tried:
            contacts.setdefault(contact.source_id, contact)
    chunk.contacts(list(contacts.values()))
    chunk.invoices(to_invoice)
    chunk.payments(payments, orders)
    chunk.credit_notes(refunds, orders)
    chunk.flush()


def synced_state_build(*, tenant, xero, source) -> SyncedState:
    """Write the source's records into the tenant's Xero organisation as a completed sync would have."""
    state = SyncedState()
    org = Organisation.objects.get(tenant_id=xero.external_account_id)
    now = timezone.now()
    orders_read = 0
    with tenant_scope(tenant), mapping_cache(), source_adapter(source, transport=SandboxTransport()) as adapter:
        for orders, payments, refunds in _source_chunks(adapter, adapter.client.store_code):
            orders_read += len(orders)
            with transaction.atomic():
                _chunk_write(
                    _Chunk(org=org, tenant=tenant, source=source, xero=xero, state=state, now=now),
                    orders,
                    payments,
                    refunds,
                )
    state.counts = {
        "orders": orders_read,
        "contacts": len(state.contacts),
        "invoices": len(state.invoices),
        "payments": len(state.payments),
        "credit_notes": len(state.credit_notes),
    }
    return state
