"""Build each job's Xero payload from its canonical record and the tenant's mappings (mappings.payloads)."""

from connections.models import Connection
from mappings import payloads as mapping
from mappings.cache import mapping_cache
from mappings.payloads import PayloadResult, Problem
from sync.models import CrossReference, SyncJob

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
            results.append(
                mapping.contact_payload(**common, contact=record, existing_xero_id=existing_id, name_taken=name_taken)
            )
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
            order, contact_id = _order_and_contact(job)
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


def _order_and_contact(job: SyncJob):
    """The order a refund belongs to (from its invoice job) and the Xero id of that order's contact."""
    from sync.services.drain import canonical_record

    invoice_job = (
        SyncJob.objects.filter(
            source_connection_id=job.source_connection_id,
            entity="invoice",
            source_id=job.depends_on_source_id,
            state=SyncJob.State.DONE,
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    if invoice_job is None:
        return None, None
    order = canonical_record(invoice_job)
    xref = CrossReference.objects.filter(
        source_connection_id=job.source_connection_id, entity="contact", source_id=order.contact.source_id
    ).first()
    return order, xref.xero_id if xref else None


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
