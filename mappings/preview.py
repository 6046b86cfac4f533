"""Previews: the exact Xero invoice an order would become, and a field transform on a real recent record."""

from dataclasses import asdict

from connections.canonical import Order, from_json
from mappings.lines import Problem
from mappings.models import FieldTransform, SampleRecord
from mappings.payloads import invoice_payload
from mappings.selectors import xero_connection_for
from mappings.transforms import TransformError, field_value, transform_apply

# Stands in for the customer's Xero contact, which the sync engine resolves when it sends the invoice.
PREVIEW_CONTACT_ID = "00000000-0000-0000-0000-000000000000"


def invoice_preview(*, source_connection, order: Order) -> dict:
    """The invoice payload for `order` as it would be sent now, each line with account, tax, tracking and rule."""
    xero = xero_connection_for(tenant=source_connection.tenant)
    if xero is None:
        problem = Problem("xero_not_connected", "No Xero organisation is connected to this tenant.")
        return {"payload": None, "problems": [asdict(problem)], "lines": [], "totals": {}, "prerequisites": []}
    result = invoice_payload(
        source_connection=source_connection, xero_connection=xero, order=order, contact_xero_id=PREVIEW_CONTACT_ID
    )
    lines = [line for line in result.explanation if line.get("line_id") != "totals"]
    totals = next((line for line in result.explanation if line.get("line_id") == "totals"), {})
    return {
        "order": order.number,
        "xero_connection": xero.display_name,
        "payload": result.payload,
        "problems": [asdict(p) for p in result.problems],
        "lines": lines,
        "totals": totals,
        "prerequisites": list(result.prerequisites),
    }


def transform_preview(*, transform: FieldTransform, record=None) -> dict | None:
    """The transform applied to `record`, or to the newest sample of its source; None when there is no record."""
    label = ""
    if record is None:
        sample = (
            SampleRecord.objects.filter(
                tenant_id=transform.tenant_id, source_connection=transform.source_connection, entity="order"
            )
            .order_by("-seen_at", "-id")
            .first()
        )
        if sample is None:
            return None
        record = from_json("order", sample.record)
        label = f"order {sample.label}"
        if transform.entity == FieldTransform.Entity.CONTACT:
            record = record.contact
            label = f"customer of order {sample.label}"
    value = field_value(record, transform.source_field)
    try:
        result = transform_apply(
            transform=transform.transform, argument=transform.argument, lookup=transform.lookup, value=value
        )
    except TransformError as exc:
        result = f"(cannot run: {exc})"
    shown = "" if value is None else str(value)
    return {"record": label or "given record", "value": shown, "result": result}
