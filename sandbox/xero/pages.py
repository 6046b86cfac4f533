"""List pages read as plain values: a page's documents (or payments) and what they show of their relations, one
query each, as light records with the models' attribute names, so `render` applies to them unchanged.

Building model instances costs several times what reading their values does, and a page of 1,000 invoices with
their contacts, lines, payments and allocations is some 6,000 instances; lists are what a reconciliation reads in
bulk. Single reads and writes keep using the models.
"""

from collections import defaultdict
from types import SimpleNamespace

from sandbox.xero.models import Allocation, CreditNote, Invoice, LineItem, Payment

CONTACT_REF = ("id", "name", "status", "contact_number", "email_address")  # what render.contact_ref shows
PAYMENT_REF = ("id", "date", "amount", "reference", "currency_rate", "status")  # render.payment_ref
LINE = tuple(f.attname for f in LineItem._meta.concrete_fields)


def _attnames(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def _records(queryset, fields, prefixes: tuple[str, ...] = ()) -> list[SimpleNamespace]:
    """The rows of `queryset` as records of `fields`; a `prefix__field` column of one of `prefixes` becomes a field
    of a nested record under `prefix` (None when its id is null, as a null foreign key reads)."""
    fields = tuple(fields)
    plain = [(i, name) for i, name in enumerate(fields) if name.partition("__")[0] not in prefixes or "__" not in name]
    nested = {
        prefix: [(i, name.partition("__")[2]) for i, name in enumerate(fields) if name.startswith(f"{prefix}__")]
        for prefix in prefixes
    }
    records = []
    for row in queryset.values_list(*fields):
        record = SimpleNamespace(**{name: row[i] for i, name in plain})
        for prefix, columns in nested.items():
            values = {name: row[i] for i, name in columns}
            setattr(record, prefix, SimpleNamespace(**values) if values.get("id") is not None else None)
        records.append(record)
    return records


def _grouped(queryset, key: str, fields, prefixes: tuple[str, ...] = ()) -> dict:
    groups = defaultdict(list)
    for record in _records(queryset, fields, prefixes):
        groups[getattr(record, key)].append(record)
    return groups


def _in_page_order(queryset, fields, prefixes: tuple[str, ...]) -> list[SimpleNamespace]:
    """_records of a page, found by id first when the queryset is a slice: the sort and the rows skipped before the
    page then touch only the sort columns and the id, not the joined rows."""
    if not queryset.query.is_sliced:
        return _records(queryset, fields, prefixes)
    ids = list(queryset.values_list("pk", flat=True))
    by_id = {record.id: record for record in _records(queryset.model.objects.filter(pk__in=ids), fields, prefixes)}
    return [by_id[pk] for pk in ids]


def documents_page(queryset) -> list[SimpleNamespace]:
    """The documents of `queryset` (invoices or credit notes, already filtered, ordered and sliced) with their
    contact, lines, payments and allocations, in the shape render.invoice / render.credit_note read."""
    model = queryset.model
    contact = tuple(f"contact__{name}" for name in CONTACT_REF)
    documents = _in_page_order(queryset, (*_attnames(model), *contact), ("contact",))
    if not documents:
        return documents
    ids = [document.id for document in documents]
    owner = "invoice_id" if model is Invoice else "credit_note_id"
    lines = _grouped(LineItem.objects.filter(**{f"{owner}__in": ids}).order_by("position"), owner, LINE)
    payments = _grouped(
        Payment.objects.filter(**{f"{owner}__in": ids}).order_by("created_at", "id"), owner, (owner, *PAYMENT_REF)
    )
    if model is Invoice:  # render.invoice shows each allocation's credit note, render.allocation its invoice
        other = ("credit_note",)
        allocation_fields = ("credit_note__id", "credit_note__credit_note_number", "credit_note__total")
    else:
        other = ("invoice",)
        allocation_fields = ("invoice__id", "invoice__invoice_number")
    allocations = _grouped(
        Allocation.objects.filter(**{f"{owner}__in": ids}).order_by("date", "id"),
        owner,
        _attnames(Allocation) + allocation_fields,
        other,
    )
    for document in documents:
        document.lines_page = lines.get(document.id, [])
        document.payments_page = payments.get(document.id, [])
        document.allocations_page = allocations.get(document.id, [])
        # The models' computed amounts (Invoice.amount_due, CreditNote.remaining_credit).
        outstanding = document.total - document.amount_paid - document.amount_credited
        if model is CreditNote:
            document.remaining_credit = outstanding
        else:
            document.amount_due = outstanding
    return documents


def payments_page(queryset) -> list[SimpleNamespace]:
    """The payments of `queryset` with their account and their invoice (and its contact) or credit note, in the
    shape render.payment reads."""
    fields = [*_attnames(Payment), "account__id", "account__code"]
    fields += ["invoice__id", "invoice__invoice_number", "invoice__type"]
    fields += [f"invoice__contact__{name}" for name in CONTACT_REF]
    fields += ["credit_note__id", "credit_note__credit_note_number"]
    payments = _in_page_order(queryset, fields, ("account", "invoice", "credit_note"))
    for payment in payments:
        if payment.invoice is not None:
            contact = {name: getattr(payment.invoice, f"contact__{name}") for name in CONTACT_REF}
            payment.invoice.contact = SimpleNamespace(**contact)
    return payments
