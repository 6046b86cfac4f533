"""Shared setup for engine tests: a tenant with a Xero sandbox connection and a Magento source with orders."""

from collections import namedtuple
from datetime import timedelta

from django.utils import timezone

from connections.canonical import Contact, Order, Payment, Refund
from connections.providers.magento.normalize import normalize_order
from connections.providers.xero.client import XeroClient
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.transport import SandboxTransport
from sync.models import SyncJob
from sync.services.staging import jobs_stage
from tests.factories import ConnectionFactory
from tests.sandbox_world import xero_connection_for

Result = namedtuple("Result", "payload problems")
Problem = namedtuple("Problem", "code cause")


def simple_payloads(jobs, *, own_xrefs, xero_connection):
    """A stand-in for the tenant's mappings: enough for Xero to accept the records (NoTax, account 200)."""
    from sync.models import CrossReference
    from sync.services.drain import canonical_record

    results = []
    for job in jobs:
        record = canonical_record(job)
        existing = own_xrefs.get(job.source_id)
        if isinstance(record, Contact):
            payload = {"Name": f"{record.name} <{record.email}>"[:255], "ContactNumber": f"T-{record.source_id}"[:50]}
            if record.email:
                payload["EmailAddress"] = record.email
        elif isinstance(record, Order):
            contact = CrossReference.objects.get(entity="contact", source_id=job.depends_on_source_id)
            lines = [
                {
                    "Description": line.description or "Item",
                    "Quantity": line.quantity,
                    "UnitAmount": line.unit_price,
                    "AccountCode": "200",
                    "DiscountAmount": line.discount,
                }
                for line in record.lines
            ]
            if record.tax_total and not record.tax_inclusive:
                lines.append(
                    {"Description": "Tax", "Quantity": 1, "UnitAmount": record.tax_total, "AccountCode": "200"}
                )
            payload = {
                "Type": "ACCREC",
                "Contact": {"ContactID": contact.xero_id},
                "InvoiceNumber": f"T-{record.number}",
                "Reference": record.number,
                "Date": record.created_at.date().isoformat(),
                "DueDate": (record.created_at.date() + timedelta(days=14)).isoformat(),
                "Status": "AUTHORISED",
                "LineAmountTypes": "NoTax",
                "CurrencyCode": record.currency,
                "LineItems": lines,
            }
        elif isinstance(record, Payment):
            invoice = CrossReference.objects.get(entity="invoice", source_id=record.order_source_id)
            payload = _payment(record.amount, record.paid_at, Invoice={"InvoiceID": invoice.xero_id})
        elif isinstance(record, Refund) and job.entity == "payment":
            # The money of a refund going back: a payment against its credit note.
            credit_note = CrossReference.objects.get(entity="credit_note", source_id=record.source_id)
            payload = _payment(record.total, record.refunded_at, CreditNote={"CreditNoteID": credit_note.xero_id})
        elif isinstance(record, Refund) and job.entity == "credit_note":
            # The credit note goes to the order's customer: the contact its invoice job waited for.
            invoice = SyncJob.objects.get(
                entity="invoice", operation=SyncJob.Operation.INVOICE_UPSERT, source_id=record.order_source_id
            )
            contact = CrossReference.objects.get(entity="contact", source_id=invoice.depends_on_source_id)
            payload = {
                "Type": "ACCRECCREDIT",
                "Contact": {"ContactID": contact.xero_id},
                "CreditNoteNumber": f"T-{record.number}",
                "Date": record.refunded_at.date().isoformat(),
                "Status": "AUTHORISED",
                "LineAmountTypes": "NoTax",
                "CurrencyCode": record.currency,
                "LineItems": [
                    {"Description": "Refund", "Quantity": 1, "UnitAmount": record.total, "AccountCode": "200"}
                ],
            }
        else:
            results.append(Result(None, (Problem("unsupported", "not in this test"),)))
            continue
        if existing:
            payload[{"contact": "ContactID", "invoice": "InvoiceID"}[job.entity]] = existing.xero_id
        results.append(Result(payload, ()))
    return results


def payloads_refusing_invoice(index: int):
    """simple_payloads, but the `index`th invoice of every invoice batch has a line on account 999, which is not in
    Xero's chart of accounts: Xero refuses that record alone."""

    def build(jobs, **kwargs):
        results = simple_payloads(jobs, **kwargs)
        if jobs[0].entity == "invoice":
            results[index].payload["LineItems"][0]["AccountCode"] = "999"
        return results

    return build


def _payment(amount, paid_at, **applied_to) -> dict:
    return {**applied_to, "Account": {"Code": "090"}, "Amount": amount, "Date": paid_at.date().isoformat()}


class World:
    """A tenant wired for the engine: Xero sandbox org + a Magento source connection with generated orders."""

    def __init__(self, tenant, *, name, store, orders=20, customers=8, seed=1, foreign_share=0.0):
        self.tenant = tenant
        self.xero, self.org = xero_connection_for(tenant, name=name, country="AU")
        self.source = ConnectionFactory(tenant=tenant, provider="magento", display_name=store)
        generate(
            account=store, seed=seed, customers=customers, orders=orders, currency="AUD", foreign_share=foreign_share
        )
        self.store = store

    def orders(self) -> list[Order]:
        natives = NativeOrder.objects.filter(store__code=self.store).order_by("entity_id")
        return [normalize_order(n.as_dict()) for n in natives]

    def open_orders(self) -> list[Order]:
        return [order for order in self.orders() if not order.is_cancelled]

    def stage_orders(self) -> list[SyncJob]:
        jobs = []
        for order in self.orders():
            jobs += jobs_stage(source_connection=self.source, entity="order", record=order)
        return jobs

    def client_factory(self, **kwargs):
        return lambda connection, transport: XeroClient(connection=connection, transport=SandboxTransport(), **kwargs)

    def due_now(self):
        SyncJob.objects.filter(tenant=self.tenant, state=SyncJob.State.PENDING).update(next_attempt_at=timezone.now())


def rows_read(sql: str, table: str) -> int:
    """How many rows of `table` the statement reads, kept or filtered out, over all loops (EXPLAIN ANALYZE: it runs
    the statement). PostgreSQL only."""
    import json

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return _rows_read(plan[0]["Plan"], table)


def _rows_read(node: dict, table: str) -> int:
    own = 0
    if node.get("Relation Name") == table:
        per_loop = sum(
            node.get(key, 0) for key in ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck")
        )
        own = round(per_loop * node["Actual Loops"])
    return own + sum(_rows_read(child, table) for child in node.get("Plans", ()))
