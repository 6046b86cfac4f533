"""Build each job's Xero payload from its canonical record and the tenant's mappings (mappings.payloads)."""

from connections.models import Connection
from mappings import payloads as mapping
from mappings.cache import mapping_cache
from mappings.contact_payloads import contact_field_values
from mappings.payloads import PayloadResult, Problem
from sync.models import CrossReference, SyncJob
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
            results.append(
                mapping.invoice_payload(
                    **common, order=record, contact_xero_id=depends_on, existing_xero_id=existing_id
                )
            )
        elif job.operation == Op.INVOICE_VOID:
            results.append(_void_payload(depends_on))
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
        elif job.operation == Op.ITEM_UPSERT:
            results.append(mapping.item_payload(**common, product=record))
        else:
            results.append(PayloadResult(None, (Problem("unsupported_operation", f"Cannot send {job.operation}."),)))
    return results


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
            source_id__in={job.depends_on_source_id for job in jobs},
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
            source_id__in={order.contact.source_id for order in orders.values()},
        )
    }
    return {key: (order, contacts.get((key[0], order.contact.source_id))) for key, order in orders.items()}


def _void_payload(invoice_xero_id: str | None) -> PayloadResult:
    if not invoice_xero_id:
        return PayloadResult(None, (Problem("invoice_missing", "The cancelled order's invoice is not in Xero."),))
    return PayloadResult({"InvoiceID": invoice_xero_id, "Status": "VOIDED"}, ())


def _dependency_ids(jobs: list[SyncJob]) -> dict[tuple[str, str], str]:
    wanted = {(j.depends_on_entity, j.depends_on_source_id) for j in jobs if j.depends_on_entity}
    found = {}
    for entity in {e for e, _ in wanted}:
        ids = [s for e, s in wanted if e == entity]
        for xref in CrossReference.objects.filter(
            source_connection_id__in={j.source_connection_id for j in jobs}, entity=entity, source_id__in=ids
        ):
            found[(entity, xref.source_id)] = xref.xero_id
    return found
