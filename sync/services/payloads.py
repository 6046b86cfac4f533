"""Build each job's Xero payload from its canonical record and the tenant's mappings (mappings.payloads)."""

from decimal import Decimal

from django.db.models import Q

from connections.canonical import ZERO, Order, Refund
from connections.models import Connection
from core.money import from_json_number
from mappings import payloads as mapping
from mappings.cache import mapping_cache
from mappings.contact_payloads import contact_field_values
from mappings.payloads import PayloadResult, Problem
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services.conflicts import conflict_settle, xref_synced_values

Op = SyncJob.Operation
NAME_TAKEN = "contact_name_taken"


def build_payloads(
    jobs: list[SyncJob], *, own_xrefs: dict[str, CrossReference], xero_connection: Connection
) -> list[PayloadResult]:
    """One PayloadResult per job, in order. `own_xrefs` are the jobs' own cross-references (existing Xero ids)."""
    with mapping_cache():
        return _build(jobs, own_xrefs=own_xrefs, xero_connection=xero_connection)


def _build(jobs, *, own_xrefs, xero_connection) -> list[PayloadResult]:
    from sync.services.drain import canonical_record

    dependencies = _dependency_ids(jobs)
    refunded = _refunded_orders([job for job in jobs if job.operation == Op.CREDIT_NOTE_CREATE])
    invoices = _InvoiceState(jobs, own_xrefs)
    results = []
    for job in jobs:
        record = canonical_record(job)
        existing = own_xrefs.get(job.source_id)
        existing_id = existing.xero_id if existing else None
        depends_on = (
            dependencies.get((job.depends_on_entity, job.depends_on_source_id)) if job.depends_on_entity else None
        )
        common = {"source_connection": job.source_connection, "xero_connection": xero_connection}
        if job.operation == Op.CONTACT_UPSERT:
            # After Xero refused the name as taken, the mapping's collision policy disambiguates it.
            name_taken = job.error_code == NAME_TAKEN
            result = mapping.contact_payload(
                **common, contact=record, existing_xero_id=existing_id, name_taken=name_taken
            )
            if existing is not None and result.payload is not None:
                _settle_kept_out(job, record, existing, result)
            results.append(result)
        elif job.operation == Op.INVOICE_UPSERT:
            if existing_id and invoices.applied(job, record.source_id):
                results.append(PayloadResult(None, (edited_after_payment(record.number),)))
                continue
            results.append(
                mapping.invoice_payload(
                    **common, order=record, contact_xero_id=depends_on, existing_xero_id=existing_id
                )
            )
        elif job.operation == Op.INVOICE_VOID:
            results.append(_void_payload(job, record, depends_on, invoices))
        elif job.operation == Op.PAYMENT_CREATE and isinstance(record, Refund):
            method = invoices.payment_method(job, record.order_source_id)
            results.append(
                mapping.refund_payment_payload(**common, refund=record, credit_note_xero_id=depends_on, method=method)
            )
        elif job.operation == Op.PAYMENT_CREATE:
            results.append(mapping.payment_payload(**common, payment=record, invoice_xero_id=depends_on))
        elif job.operation == Op.CREDIT_NOTE_CREATE:
            order, contact_id = refunded.get((job.source_connection_id, job.depends_on_source_id), (None, None))
            if contact_id is None:
                problem = Problem("invoice_missing", f"The invoice of order {job.depends_on_source_id} is not in Xero.")
                results.append(PayloadResult(None, (problem,)))
            else:
                results.append(
                    mapping.credit_note_payload(
                        **common, refund=record, contact_xero_id=contact_id, order=order, existing_xero_id=existing_id
                    )
                )
        elif job.operation == Op.CREDIT_NOTE_ALLOCATE:
            order = invoices.order(job, record.order_source_id)
            due = (order.grand_total if order else ZERO) - invoices.applied(job, record.order_source_id)
            results.append(
                mapping.allocation_payload(
                    source_connection=job.source_connection,
                    refund=record,
                    credit_note_xero_id=depends_on,
                    invoice_xero_id=invoices.xero_id(job, record.order_source_id),
                    amount_due=due,
                    order_number=order.number if order else record.order_source_id,
                )
            )
        elif job.operation == Op.CONTACT_NOTE:
            results.append(mapping.contact_note_payload(note=record, contact_xero_id=depends_on))
        elif job.operation == Op.ITEM_UPSERT:
            results.append(mapping.item_payload(**common, product=record))
        else:
            results.append(PayloadResult(None, (Problem("unsupported_operation", f"Cannot send {job.operation}."),)))
    return results


def edited_after_payment(order_number: str) -> Problem:
    return Problem(
        "invoice_paid",
        f"Order {order_number} was edited after a payment was applied in Xero; Xero does not allow changing a paid "
        "invoice. Refund or credit the difference in the source, or edit in Xero.",
    )


def cancelled_after_payment(order_number: str) -> Problem:
    return Problem(
        "invoice_paid",
        f"Order {order_number} was cancelled after a payment was applied in Xero; Xero cannot void an invoice that "
        "has payments or credit allocated. Refund the order in the source (a credit note follows), or remove the "
        "payment in Xero and replay this job.",
    )


def _sent(jobs: Q):
    """The audit entries holding what the done jobs that `jobs` selects sent to Xero (one per job: created, updated
    or matched)."""
    return AuditEntry.objects.filter(
        jobs,
        outcome__in=(AuditEntry.Outcome.CREATED, AuditEntry.Outcome.UPDATED, AuditEntry.Outcome.MATCHED),
    )


class _InvoiceState:
    """What we applied to the invoices of a batch's orders, read in a few queries for the whole batch.

    Payments and allocations we sent are the engine's own record of what Xero holds against an invoice; anything a
    person does directly in Xero shows up as Xero's refusal instead (sync.services.payloads.refusal_cause).
    """

    def __init__(self, jobs: list[SyncJob], own_xrefs: dict[str, CrossReference]):
        from sync.services.drain import canonical_record, record_document

        orders = set()
        for job in jobs:
            if job.operation == Op.INVOICE_VOID or (job.operation == Op.INVOICE_UPSERT and job.source_id in own_xrefs):
                orders.add(job.source_id)  # a new invoice has nothing applied to it yet: nothing to read
            elif (
                job.operation in (Op.CREDIT_NOTE_ALLOCATE, Op.PAYMENT_CREATE) and job.depends_on_entity == "credit_note"
            ):
                orders.add(str(record_document(job)["data"].get("order_source_id", "")))
        self._orders: dict[tuple[int, str], Order] = {}
        self._status: dict[tuple[int, str], str] = {}
        self._applied: dict[tuple[int, str], Decimal] = {}
        self._xero_ids: dict[tuple[int, str], str] = {}
        self._methods: dict[tuple[int, str], str] = {}
        if not orders:
            return
        connections = {job.source_connection_id for job in jobs}
        done = SyncJob.objects.filter(source_connection_id__in=connections, state=SyncJob.State.DONE)
        # The entity (always "invoice" for this operation) is what the record index (sync_job_record) leads with.
        invoices = done.filter(entity="invoice", operation=Op.INVOICE_UPSERT, source_id__any=orders)
        invoiced = list(invoices.order_by("finished_at", "id"))
        # A done job's payload lives on its audit entry (the drain clears it from the job): what was sent is there.
        sent_status = dict(_sent(Q(job__id__any=[job.pk for job in invoiced])).values_list("job_id", "request__Status"))
        for job in invoiced:
            key = (job.source_connection_id, job.source_id)
            self._orders[key] = canonical_record(job)
            self._status[key] = sent_status.get(job.pk) or ""
        paid_or_credited = done.filter(
            Q(operation=Op.PAYMENT_CREATE, depends_on_entity="invoice", depends_on_source_id__any=orders)
            # The entity adds nothing to the operation but an index (sync_job_record) to find them by: with one arm
            # of the OR that no index serves, every statement scanned all of the tenant's jobs.
            | Q(entity="allocation", operation=Op.CREDIT_NOTE_ALLOCATE, record__data__order_source_id__any=orders)
        )
        applied = _sent(Q(job__in=paid_or_credited)).values_list(
            "job__source_connection_id",
            "job__operation",
            "job__depends_on_source_id",
            "job__record__data__order_source_id",
            "request__Amount",
        )
        for connection_id, operation, invoice_of, refund_of, amount in applied:
            key = (connection_id, invoice_of if operation == Op.PAYMENT_CREATE else refund_of)
            self._applied[key] = self._applied.get(key, ZERO) + from_json_number(amount)
        # How each order was paid, from its payments (sent or not yet): where a refund's money goes back from.
        for connection_id, order_id, method in (
            SyncJob.objects.filter(
                source_connection_id__in=connections,
                operation=Op.PAYMENT_CREATE,
                depends_on_entity="invoice",
                depends_on_source_id__any=orders,
            )
            .exclude(state=SyncJob.State.DISCARDED)
            .values_list("source_connection_id", "depends_on_source_id", "record__data__method")
        ):
            if method:
                self._methods[(connection_id, order_id)] = method
        for xref in CrossReference.objects.filter(
            source_connection_id__in=connections, entity="invoice", source_id__any=orders
        ):
            self._xero_ids[(xref.source_connection_id, xref.source_id)] = xref.xero_id

    def order(self, job: SyncJob, order_id: str) -> Order | None:
        """The order as last invoiced in Xero."""
        return self._orders.get((job.source_connection_id, order_id))

    def status(self, job: SyncJob, order_id: str) -> str:
        """The status the invoice was last sent with (DRAFT or AUTHORISED)."""
        return self._status.get((job.source_connection_id, order_id), "")

    def applied(self, job: SyncJob, order_id: str) -> Decimal:
        """Payments and credit we applied to the order's invoice."""
        return self._applied.get((job.source_connection_id, order_id), ZERO)

    def payment_method(self, job: SyncJob, order_id: str) -> str:
        """How the order was paid: its own payment method, else the method of a payment we applied to it."""
        order = self.order(job, order_id)
        return (order.payment_method if order else "") or self._methods.get((job.source_connection_id, order_id), "")

    def xero_id(self, job: SyncJob, order_id: str) -> str | None:
        return self._xero_ids.get((job.source_connection_id, order_id))


def refusal_cause(job: SyncJob, errors) -> str | None:
    """Xero's refusal of an edit or a void, in the plain words of what happened and what to do (None otherwise)."""
    from sync.services.drain import canonical_record

    text = " ".join(errors).lower()
    if job.operation not in (Op.INVOICE_UPSERT, Op.INVOICE_VOID) or not (
        "payment or credit note allocated" in text or "not of valid status for modification" in text
    ):
        return None
    number = canonical_record(job).number
    if job.operation == Op.INVOICE_VOID:
        return cancelled_after_payment(number).cause
    if "payment or credit note allocated" in text:
        return edited_after_payment(number).cause
    return (
        f"Order {number} was edited, but its invoice is paid, voided or deleted in Xero, which does not allow "
        "changing it. Refund or credit the difference in the source, or edit in Xero."
    )


def _settle_kept_out(job: SyncJob, contact, xref: CrossReference, result: PayloadResult) -> None:
    """A source change to a group Xero owns is not sent; the settlement is audited once (until it is synced)."""
    kept_out = (result.explanation[0] if result.explanation else {}).get("kept_out") or []
    if not kept_out:
        return
    xero_values, source_values = xref_synced_values(xref)
    current = contact_field_values(contact)
    for group in kept_out:
        if current[group] == source_values.get(group) or current[group] == xero_values.get(group):
            continue  # the source did not change it, or already agrees with Xero
        conflict_settle(
            source_connection=job.source_connection,
            entity="contact",
            source_id=job.source_id,
            xero_id=xref.xero_id,
            group=group,
            source_value=current[group],
            xero_value=xero_values.get(group),
            source_changed_at=contact.updated_at,
            xero_changed_at=None,
            owners={group: "xero"},
        )


def _refunded_orders(jobs: list[SyncJob]) -> dict[tuple[int, str], tuple]:
    """For refund jobs: (source connection, order id) → (the order, from its invoice job; its contact's Xero id).

    Two queries for the whole batch, whatever its size.
    """
    if not jobs:
        return {}
    from sync.services.drain import canonical_record

    connections = {job.source_connection_id for job in jobs}
    invoice_jobs = (
        SyncJob.objects.filter(
            source_connection_id__in=connections,
            entity="invoice",
            source_id__any={job.depends_on_source_id for job in jobs},
            state=SyncJob.State.DONE,
        )
        .only("source_connection_id", "source_id", "record")
        # The latest done invoice job of each order wins.
        .order_by("finished_at", "id")
    )
    orders = {(j.source_connection_id, j.source_id): canonical_record(j) for j in invoice_jobs}
    contacts = {
        (x.source_connection_id, x.source_id): x.xero_id
        for x in CrossReference.objects.filter(
            source_connection_id__in=connections,
            entity="contact",
            source_id__any={order.contact.source_id for order in orders.values()},
        )
    }
    return {key: (order, contacts.get((key[0], order.contact.source_id))) for key, order in orders.items()}


def _void_payload(job: SyncJob, order: Order, invoice_xero_id: str | None, invoices: _InvoiceState) -> PayloadResult:
    """Void the cancelled order's invoice, or delete it while it is a draft (Xero voids only approved ones)."""
    if not invoice_xero_id:
        return PayloadResult(None, (Problem("invoice_missing", "The cancelled order's invoice is not in Xero."),))
    if invoices.applied(job, order.source_id):
        return PayloadResult(None, (cancelled_after_payment(order.number),))
    status = "DELETED" if invoices.status(job, order.source_id) in ("DRAFT", "SUBMITTED") else "VOIDED"
    return PayloadResult({"InvoiceID": invoice_xero_id, "Status": status}, ())


def _dependency_ids(jobs: list[SyncJob]) -> dict[tuple[str, str], str]:
    """(entity, source id) → Xero id of each record the jobs depend on that is in Xero."""
    from sync.services.drain import cross_reference_ids

    wanted = {(j.depends_on_entity, j.depends_on_source_id) for j in jobs if j.depends_on_entity}
    found = {}
    for entity in {e for e, _ in wanted}:
        ids = [s for e, s in wanted if e == entity]
        for source_id, xero_id in cross_reference_ids(
            jobs[0].tenant_id, {j.source_connection_id for j in jobs}, entity, ids
        ):
            found[(entity, source_id)] = xero_id
    return found
