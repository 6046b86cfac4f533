"""The naive baseline for bench_sync: what a per-record connector does, through the same jobs and client.

For each order: look the customer up in Xero (one call), create the contact when missing (one call), create the
invoice (one call). Payloads come from the same mappings; results are recorded the same way.
"""

import uuid

from django.utils import timezone

from connections.providers.xero import accounting
from sync.models import AuditEntry, SyncJob
from sync.services.drain import _record_success, _xref_map
from sync.services.payloads import NAME_TAKEN, build_payloads


def naive_run(*, xero_connection, client) -> int:
    """Send every pending invoice one record at a time, its contact looked up first. Returns invoices sent."""
    done = 0
    jobs = SyncJob.objects.filter(xero_connection=xero_connection, state=SyncJob.State.PENDING).select_related(
        "source_connection"
    )
    invoices = [j for j in jobs.order_by("id") if j.operation == SyncJob.Operation.INVOICE_UPSERT]
    contacts = {j.source_id: j for j in jobs if j.operation == SyncJob.Operation.CONTACT_UPSERT}
    for invoice_job in invoices:
        contact_job = contacts.get(invoice_job.depends_on_source_id)
        if contact_job is not None:
            (built,) = build_payloads([contact_job], own_xrefs={}, xero_connection=xero_connection)
            number = built.payload["ContactNumber"]
            found = accounting.find_by(client, "contact", "ContactNumber", [number])  # the lookup
            if number in found:
                record, xero_id = found[number], str(found[number]["ContactID"])
            else:
                (result,) = accounting.save_batch(client, "contact", [built.payload], idempotency_key=_key())
                if not result.ok:
                    # Another customer has the name: the tenant's collision policy disambiguates, as in the drain.
                    contact_job.error_code = NAME_TAKEN
                    (built,) = build_payloads([contact_job], own_xrefs={}, xero_connection=xero_connection)
                    (result,) = accounting.save_batch(client, "contact", [built.payload], idempotency_key=_key())
                record, xero_id = result.record, result.xero_id
            if contact_job.state != SyncJob.State.DONE:
                contact_job.payload = built.payload
                _record_success(contact_job, xero_id, record, timezone.now(), AuditEntry.Outcome.CREATED)
        own = _xref_map([invoice_job], "invoice", [invoice_job.source_id])
        (built,) = build_payloads([invoice_job], own_xrefs=own, xero_connection=xero_connection)
        if built.problems:
            continue
        (result,) = accounting.save_batch(client, "invoice", [built.payload], idempotency_key=_key())
        if result.ok:
            invoice_job.payload = built.payload
            _record_success(invoice_job, result.xero_id, result.record, timezone.now(), AuditEntry.Outcome.CREATED)
            done += 1
    return done


def _key() -> str:
    return uuid.uuid4().hex
