"""Load native Cin7 Core records, exactly as the API returns them, into a simulated account.

Accepted: one record, a list of records (including the bare array /sale/payment answers), a list response
(`{"SaleList": [...], "Total": n, "Page": 1}`, `{"CustomerList": ...}`, `{"Products": ...}`, `{"TaxRuleList": ...}`,
`{"ProductAvailabilityList": ...}`, `{"Webhooks": ...}`), or a bundle of responses keyed by endpoint such as
`payloads/cin7_core_lists.json` (keys starting with "_" are notes; thin webhook payloads are examples of what Cin7
sends, not records, and are skipped). Records are stored unchanged and come back from the API identically.
"""

from django.db import transaction

from sandbox.cin7 import documents, services
from sandbox.cin7.errors import Cin7Error
from sandbox.cin7.models import Cin7Record

Kind = Cin7Record.Kind

COUNT_NAMES = {
    Kind.CUSTOMER: "customers",
    Kind.SUPPLIER: "suppliers",
    Kind.PRODUCT: "products",
    Kind.AVAILABILITY: "availability",
    Kind.TAX_RULE: "tax_rules",
    Kind.SALE: "sales",
    Kind.PAYMENT: "payments",
    Kind.WEBHOOK: "webhooks",
    "sale_header": "sale_list_entries",
    "credit_note_header": "credit_note_list_entries",
}


def load_records(*, account: str, data) -> dict:
    """Store native records in the account (an Account ID or name); returns counts per kind.

    Raises ValueError for anything that is not recognisably a Cin7 Core record or response.
    """
    target = services.account_resolve(account)
    counts: dict[str, int] = {}
    with transaction.atomic():
        _load(target, data, counts, context=None, top=True)
    if not any(counts.get(name) for name in COUNT_NAMES.values()):
        raise ValueError("no Cin7 Core records found in the data")
    return counts


def _bump(counts, name, n=1):
    counts[name] = counts.get(name, 0) + n


def _load(account, data, counts, *, context, top=False):
    if isinstance(data, list):
        for item in data:
            _load_record(account, item, counts, context=context)
        return
    if not isinstance(data, dict):
        raise ValueError(f"expected a Cin7 record, a list or a list response, got {type(data).__name__}")
    if "SaleList" in data:
        credit = context == "credit" or any(isinstance(s, dict) and "RestockStatus" in s for s in data["SaleList"])
        _load(account, data["SaleList"], counts, context="credit" if credit else "sale_header")
        return
    for list_key in documents.LIST_KEYS:
        if list_key in data and isinstance(data[list_key], list):
            _load(account, data[list_key], counts, context=documents.LIST_KEYS[list_key])
            return
    if documents.classify(data) is not None:
        _load_record(account, data, counts, context=context)
        return
    if "EventType" in data:
        _bump(counts, "skipped")
        return
    if not top and context == "bundle" and all(isinstance(v, dict) and "EventType" in v for v in data.values()):
        _bump(counts, "skipped", len(data))
        return
    # A bundle of responses keyed by endpoint ("GET /customer": {...}); notes start with "_".
    sections = {k: v for k, v in data.items() if not str(k).startswith("_")}
    if not sections or not all(isinstance(v, dict | list) for v in sections.values()):
        raise ValueError("not a Cin7 Core record, list or list response")
    for name, section in sections.items():
        section_context = "credit" if "creditnotelist" in str(name).replace(" ", "").lower() else "bundle"
        _load(account, section, counts, context=section_context)


def _load_record(account, record, counts, *, context):
    kind = documents.classify(record)
    if kind is None:
        raise ValueError(f"not a recognisable Cin7 Core record: {str(record)[:120]}")
    try:
        if kind == "sale_header":
            credit = context == "credit" or "RestockStatus" in record
            services.sale_header_store(account=account, header=record, credit_list=credit)
            _bump(counts, COUNT_NAMES["credit_note_header" if credit else "sale_header"])
        elif kind == Kind.SALE:
            services.sale_store(account=account, sale=record)
            _bump(counts, COUNT_NAMES[kind])
        else:
            services.record_store(account=account, kind=kind, record=record)
            _bump(counts, COUNT_NAMES[kind])
    except Cin7Error as exc:
        raise ValueError(exc.message) from exc
