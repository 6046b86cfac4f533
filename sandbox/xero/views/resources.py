"""api.xro/2.0 endpoints: one small handler per operation, routed by a table (Xero paths are case-insensitive)."""

import re
import uuid

from django.db.models import Prefetch
from django.http import HttpResponse

from sandbox.xero import errors, pages, render
from sandbox.xero.models import (
    Account,
    Allocation,
    Contact,
    ContactGroup,
    CreditNote,
    HistoryRecord,
    Invoice,
    Item,
    Payment,
    TaxRate,
    TrackingCategory,
)
from sandbox.xero.services.contacts import (
    contact_group_add_contacts,
    contact_group_write,
    contact_refs,
    contact_write,
)
from sandbox.xero.services.documents import document_write, documents_prefetch
from sandbox.xero.services.history import history_note_add
from sandbox.xero.services.payments import (
    allocation_create,
    allocation_delete,
    payment_create,
    payment_delete,
    payments_prefetch,
)
from sandbox.xero.services.settings import (
    account_write,
    currency_add,
    item_write,
    items_prefetch,
    tax_rate_write,
    tracking_category_write,
    tracking_option_add,
)
from sandbox.xero.services.workspace import Workspace
from sandbox.xero.views.common import (
    batch_write,
    csv_param,
    envelope,
    filter_queryset,
    list_queryset,
    list_response,
)
from sandbox.xero.views.gate import Call

GUID = r"(?P<id>[0-9a-fA-F-]{36})"


def _uuid(value: str):
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.NotFound from None


def _get(queryset, **lookup):
    record = queryset.filter(**lookup).first()
    if record is None:
        raise errors.NotFound
    return record


# Organisation ------------------------------------------------------------------------------------------------


def organisation_get(call: Call):
    return envelope(call, "Organisations", [render.organisation(call.org)])


# Contacts ----------------------------------------------------------------------------------------------------


# Fields a `where` compares that are columns as rendered (text equal ignoring case, or a GUID).
CONTACT_COLUMNS = {
    "ContactID": "id",
    "Name": "name",
    "ContactNumber": "contact_number",
    "AccountNumber": "account_number",
    "EmailAddress": "email_address",
    "FirstName": "first_name",
    "LastName": "last_name",
    "ContactStatus": "status",
}
INVOICE_COLUMNS = {
    "InvoiceID": "id",
    "InvoiceNumber": "invoice_number",
    "Type": "type",
    "Status": "status",
    "Reference": "reference",
    "CurrencyCode": "currency_code",
    "Contact.ContactID": "contact_id",
    "Contact.Name": "contact__name",
    "Contact.ContactNumber": "contact__contact_number",
}
CREDIT_NOTE_COLUMNS = {
    "CreditNoteID": "id",
    "CreditNoteNumber": "credit_note_number",
    "Type": "type",
    "Status": "status",
    "Reference": "reference",
    "CurrencyCode": "currency_code",
    "Contact.ContactID": "contact_id",
}
PAYMENT_COLUMNS = {
    "PaymentID": "id",
    "Reference": "reference",
    "Status": "status",
    "PaymentType": "payment_type",
    "Invoice.InvoiceID": "invoice_id",
}
DOCUMENT_DATES = {"Date": "date"}


def _contacts(call: Call):
    return Contact.objects.filter(org=call.org).prefetch_related("groups").order_by("name", "id")


def contacts_list(call: Call):
    queryset = filter_queryset(call, _contacts(call))
    if not call.flag("includeArchived", False):
        queryset = queryset.exclude(status="ARCHIVED")
    summary = call.flag("summaryOnly", False)
    term = (call.param("searchTerm") or "").lower()

    def search(records):
        fields = ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")
        return [r for r in records if any(term in str(r.get(f, "")).lower() for f in fields)]

    return list_queryset(
        call,
        "Contacts",
        queryset,
        lambda c: render.contact(c, summary=summary),
        paged=True,
        columns=CONTACT_COLUMNS,
        narrow=search if term else None,
    )


def contact_get(call: Call, id: str):
    queryset = _contacts(call)
    try:
        contact = _get(queryset, id=uuid.UUID(id))
    except ValueError:
        contact = _get(queryset, contact_number=id)  # GET /Contacts/{ContactNumber}
    return envelope(call, "Contacts", [render.contact(contact)])


def _contacts_batch(call: Call, *, create_only: bool, contact_id=None):
    ws = Workspace(call.org)

    def prefetch(elements):
        # The contacts named by id first, then every contact their names and numbers could collide with.
        refs = contact_refs(elements)
        ws.contacts_load(ids=refs["ids"] + ([contact_id] if contact_id else []))
        known = ws.known(Contact)
        ws.contacts_load(
            numbers=refs["numbers"] + [c.contact_number for c in known if c.contact_number],
            names=refs["names"] + [c.name for c in known],
        )

    def render_many(contacts):
        ws.contacts_as_stored(contacts)
        return [render.contact(c) for c in contacts]

    return batch_write(
        call,
        "Contacts",
        lambda data: contact_write(org=call.org, data=data, create_only=create_only, contact_id=contact_id, ws=ws)[0],
        error_flag="HasValidationErrors",
        ws=ws,
        prefetch=prefetch,
        render_many=render_many,
    )


def contacts_write(call: Call):
    return _contacts_batch(call, create_only=call.method == "PUT")


def contact_update(call: Call, id: str):
    return _contacts_batch(call, create_only=False, contact_id=_uuid(id))


def contact_groups_list(call: Call):
    queryset = ContactGroup.objects.filter(org=call.org).order_by("name")
    return list_response(call, "ContactGroups", [render.contact_group(g) for g in queryset], paged=False)


def contact_group_get(call: Call, id: str):
    group = _get(ContactGroup.objects.filter(org=call.org).prefetch_related("contacts"), id=_uuid(id))
    return envelope(call, "ContactGroups", [render.contact_group(group, with_contacts=True)])


def contact_groups_write(call: Call):
    return batch_write(
        call,
        "ContactGroups",
        lambda data: contact_group_write(org=call.org, data=data),
        render.contact_group,
        error_flag="HasValidationErrors",
    )


def contact_group_update(call: Call, id: str):
    group_id = _uuid(id)
    return batch_write(
        call,
        "ContactGroups",
        lambda data: contact_group_write(org=call.org, data=data, group_id=group_id),
        render.contact_group,
        error_flag="HasValidationErrors",
    )


def contact_group_contacts_add(call: Call, id: str):
    group = _get(ContactGroup.objects.filter(org=call.org), id=_uuid(id))
    refs = (call.body or {}).get("Contacts") or []
    contacts = contact_group_add_contacts(org=call.org, group=group, refs=refs)
    return envelope(call, "Contacts", [{"ContactID": str(c.id), "Name": c.name} for c in contacts])


def contact_group_contact_remove(call: Call, id: str, contact_id: str):
    group = _get(ContactGroup.objects.filter(org=call.org), id=_uuid(id))
    contact = _get(group.contacts.all(), id=_uuid(contact_id))
    group.contacts.remove(contact)
    return HttpResponse(status=204)


def contact_group_contacts_clear(call: Call, id: str):
    group = _get(ContactGroup.objects.filter(org=call.org), id=_uuid(id))
    group.contacts.clear()
    return HttpResponse(status=204)


# Invoices and credit notes -----------------------------------------------------------------------------------


def _documents(call: Call, model):
    # Each relation is fetched once for the whole page into a plain list (render.related reads `<name>_page`):
    # a page of 1,000 documents then costs four queries and no per-document queryset.
    allocations = Allocation.objects.select_related("credit_note" if model is Invoice else "invoice")
    return (
        model.objects.filter(org=call.org)
        .select_related("contact")
        .prefetch_related(
            Prefetch("lines", to_attr="lines_page"),
            Prefetch("payments", to_attr="payments_page"),
            Prefetch("allocations", queryset=allocations, to_attr="allocations_page"),
        )
    )


def invoices_list(call: Call):
    queryset = filter_queryset(call, Invoice.objects.filter(org=call.org)).order_by("created_at", "id")
    numbers = csv_param(call, "InvoiceNumbers")
    if numbers is not None:
        queryset = queryset.filter(invoice_number__in=numbers)
    contact_ids = csv_param(call, "ContactIDs")
    if contact_ids is not None:
        queryset = queryset.filter(contact_id__in=[_uuid(c) for c in contact_ids])
    statuses = csv_param(call, "Statuses")
    if statuses is not None:
        queryset = queryset.filter(status__in=statuses)
    # Xero returns line items only on paged reads (up to 100 invoices per page with their lines).
    with_lines = call.param("page") is not None and not call.flag("summaryOnly", False)
    return list_queryset(
        call,
        "Invoices",
        queryset,
        lambda i: render.invoice(i, unitdp=call.unitdp, with_lines=with_lines),
        paged=True,
        columns=INVOICE_COLUMNS,
        date_columns=DOCUMENT_DATES,
        load=pages.documents_page,
    )


def invoice_get(call: Call, id: str):
    queryset = _documents(call, Invoice)
    try:
        invoice = _get(queryset, id=uuid.UUID(id))
    except ValueError:
        invoice = _get(queryset.exclude(status="DELETED"), invoice_number=id)
    return envelope(call, "Invoices", [render.invoice(invoice, unitdp=call.unitdp)])


def _documents_batch(call: Call, kind: str, document_id=None):
    create_only = call.method == "PUT" and document_id is None
    renderer = render.invoice if kind == "invoice" else render.credit_note
    ws = Workspace(call.org)

    def write(data):
        doc, _ = document_write(
            org=call.org,
            data=data,
            kind=kind,
            create_only=create_only,
            unitdp=call.unitdp,
            document_id=document_id,
            ws=ws,
        )
        return doc

    def render_many(docs):
        ws.documents_as_stored(docs)
        return [renderer(d, unitdp=call.unitdp) for d in docs]

    return batch_write(
        call,
        "Invoices" if kind == "invoice" else "CreditNotes",
        write,
        ws=ws,
        prefetch=lambda elements: documents_prefetch(ws=ws, elements=elements, kind=kind, document_id=document_id),
        render_many=render_many,
    )


def invoices_write(call: Call):
    return _documents_batch(call, "invoice")


def invoice_update(call: Call, id: str):
    return _documents_batch(call, "invoice", _uuid(id))


def credit_notes_list(call: Call):
    queryset = filter_queryset(call, CreditNote.objects.filter(org=call.org)).order_by("created_at", "id")
    with_lines = call.param("page") is not None
    return list_queryset(
        call,
        "CreditNotes",
        queryset,
        lambda c: render.credit_note(c, unitdp=call.unitdp, with_lines=with_lines),
        paged=True,
        columns=CREDIT_NOTE_COLUMNS,
        date_columns=DOCUMENT_DATES,
        load=pages.documents_page,
    )


def credit_note_get(call: Call, id: str):
    queryset = _documents(call, CreditNote)
    try:
        credit_note = _get(queryset, id=uuid.UUID(id))
    except ValueError:
        credit_note = _get(queryset, credit_note_number=id)
    return envelope(call, "CreditNotes", [render.credit_note(credit_note, unitdp=call.unitdp)])


def credit_notes_write(call: Call):
    return _documents_batch(call, "creditnote")


def credit_note_update(call: Call, id: str):
    return _documents_batch(call, "creditnote", _uuid(id))


def allocations_create(call: Call, id: str):
    credit_note = _get(CreditNote.objects.filter(org=call.org), id=_uuid(id))
    return batch_write(
        call,
        "Allocations",
        lambda data: allocation_create(org=call.org, credit_note=credit_note, data=data),
        render.allocation,
        error_flag="HasValidationErrors",
    )


def allocation_remove(call: Call, id: str, allocation_id: str):
    credit_note = _get(CreditNote.objects.filter(org=call.org), id=_uuid(id))
    allocation = allocation_delete(org=call.org, credit_note=credit_note, allocation_id=_uuid(allocation_id))
    return envelope(call, "Allocations", [render.allocation(allocation)])


# Payments ----------------------------------------------------------------------------------------------------


def _payments(call: Call):
    return (
        Payment.objects.filter(org=call.org)
        .select_related("account", "account__org", "invoice", "invoice__contact", "credit_note")
        .order_by("created_at", "id")
    )


def payments_list(call: Call):
    queryset = filter_queryset(call, Payment.objects.filter(org=call.org).order_by("created_at", "id"))
    return list_queryset(
        call,
        "Payments",
        queryset,
        render.payment,
        paged=True,
        columns=PAYMENT_COLUMNS,
        date_columns={"Date": "date"},
        load=pages.payments_page,
    )


def payment_get(call: Call, id: str):
    return envelope(call, "Payments", [render.payment(_get(_payments(call), id=_uuid(id)))])


def payments_write(call: Call):
    ws = Workspace(call.org)

    def render_many(payments):
        # The batch's own instances (and the documents and accounts they point at) hold what was just written.
        return [render.payment(p) for p in payments]

    return batch_write(
        call,
        "Payments",
        lambda data: payment_create(org=call.org, data=data, ws=ws),
        error_flag="HasValidationErrors",
        ws=ws,
        prefetch=lambda elements: payments_prefetch(ws=ws, elements=elements),
        render_many=render_many,
    )


def payment_update(call: Call, id: str):
    payment_id = _uuid(id)
    body = call.body if isinstance(call.body, dict) else {}
    element = (body.get("Payments") or [body])[0] if body else {}
    if (element or {}).get("Status") != "DELETED":
        raise errors.RequestInvalid("Payments can only be deleted (Status DELETED); they cannot be edited.")
    payment = payment_delete(org=call.org, payment_id=payment_id)
    return envelope(call, "Payments", [render.payment(_payments(call).get(pk=payment.pk))])


# Items -------------------------------------------------------------------------------------------------------


def items_list(call: Call):
    queryset = filter_queryset(call, Item.objects.filter(org=call.org).order_by("code"))
    return list_response(call, "Items", [render.item(i, unitdp=call.unitdp) for i in queryset], paged=False)


def item_get(call: Call, id: str):
    queryset = Item.objects.filter(org=call.org)
    try:
        item = _get(queryset, id=uuid.UUID(id))
    except ValueError:
        item = _get(queryset, code=id)
    return envelope(call, "Items", [render.item(item, unitdp=call.unitdp)])


def _items_batch(call: Call, *, create_only: bool, item_id=None):
    ws = Workspace(call.org)

    def write(data):
        item, _ = item_write(
            org=call.org, data=data, create_only=create_only, unitdp=call.unitdp, item_id=item_id, ws=ws
        )
        return item

    return batch_write(
        call,
        "Items",
        write,
        error_flag="HasValidationErrors",
        ws=ws,
        prefetch=lambda elements: items_prefetch(ws=ws, elements=elements, item_id=item_id),
        render_many=lambda items: [render.item(i, unitdp=call.unitdp) for i in items],
    )


def items_write(call: Call):
    return _items_batch(call, create_only=call.method == "PUT")


def item_update(call: Call, id: str):
    return _items_batch(call, create_only=False, item_id=_uuid(id))


def item_delete(call: Call, id: str):
    item = _get(Item.objects.filter(org=call.org), id=_uuid(id))
    item.delete()
    return HttpResponse(status=204)


# Accounts, tax rates, tracking, currencies -------------------------------------------------------------------


def accounts_list(call: Call):
    queryset = filter_queryset(call, Account.objects.filter(org=call.org).select_related("org").order_by("code"))
    return list_response(call, "Accounts", [render.account(a) for a in queryset], paged=False)


def account_get(call: Call, id: str):
    account = _get(Account.objects.filter(org=call.org).select_related("org"), id=_uuid(id))
    return envelope(call, "Accounts", [render.account(account)])


def account_create(call: Call):
    body = call.body if isinstance(call.body, dict) else {}
    data = (body.get("Accounts") or [body])[0]
    return envelope(call, "Accounts", [render.account(account_write(org=call.org, data=data))])


def account_update(call: Call, id: str):
    body = call.body if isinstance(call.body, dict) else {}
    data = (body.get("Accounts") or [body])[0]
    account = account_write(org=call.org, data=data, account_id=_uuid(id))
    return envelope(call, "Accounts", [render.account(account)])


def tax_rates_list(call: Call):
    queryset = TaxRate.objects.filter(org=call.org).prefetch_related("components").order_by("name")
    tax_type = call.param("TaxType")
    if tax_type:
        queryset = queryset.filter(tax_type=tax_type)
    return list_response(call, "TaxRates", [render.tax_rate(r) for r in queryset], paged=False)


def tax_rate_get(call: Call, id: str):
    rate = _get(TaxRate.objects.filter(org=call.org).prefetch_related("components"), tax_type=id)
    return envelope(call, "TaxRates", [render.tax_rate(rate)])


def tax_rates_write(call: Call):
    update = call.method == "POST"
    return batch_write(
        call,
        "TaxRates",
        lambda data: tax_rate_write(org=call.org, data=data, update=update),
        render.tax_rate,
        error_flag="HasValidationErrors",
    )


def tracking_list(call: Call):
    queryset = TrackingCategory.objects.filter(org=call.org).prefetch_related("options").order_by("created_at")
    include_archived = call.flag("includeArchived", False)
    if not include_archived:
        queryset = queryset.filter(status="ACTIVE")
    records = [render.tracking_category(t, include_archived=include_archived) for t in queryset]
    return list_response(call, "TrackingCategories", records, paged=False)


def tracking_get(call: Call, id: str):
    category = _get(TrackingCategory.objects.filter(org=call.org).prefetch_related("options"), id=_uuid(id))
    return envelope(call, "TrackingCategories", [render.tracking_category(category)])


def tracking_create(call: Call):
    body = call.body if isinstance(call.body, dict) else {}
    data = (body.get("TrackingCategories") or [body])[0]
    category = tracking_category_write(org=call.org, data=data)
    return envelope(call, "TrackingCategories", [render.tracking_category(category)])


def tracking_update(call: Call, id: str):
    body = call.body if isinstance(call.body, dict) else {}
    data = (body.get("TrackingCategories") or [body])[0]
    category = tracking_category_write(org=call.org, data=data, category_id=_uuid(id))
    return envelope(call, "TrackingCategories", [render.tracking_category(category)])


def tracking_options_add(call: Call, id: str):
    category = _get(TrackingCategory.objects.filter(org=call.org), id=_uuid(id))
    body = call.body if isinstance(call.body, dict) else {}
    elements = body.get("Options") or [body]
    options = [tracking_option_add(category=category, data=element) for element in elements]
    return envelope(call, "Options", [render.tracking_option(o) for o in options])


def currencies_list(call: Call):
    return list_response(
        call, "Currencies", [render.currency(c) for c in call.org.currencies.order_by("code")], paged=False
    )


def currencies_create(call: Call):
    body = call.body if isinstance(call.body, dict) else {}
    data = (body.get("Currencies") or [body])[0]
    return envelope(call, "Currencies", [render.currency(currency_add(org=call.org, data=data))])


# History -----------------------------------------------------------------------------------------------------

HISTORY_MODELS = {
    "invoices": Invoice,
    "creditnotes": CreditNote,
    "contacts": Contact,
    "items": Item,
    "payments": Payment,
}


def _history_target(call: Call, resource: str, id: str):
    return _get(HISTORY_MODELS[resource.lower()].objects.filter(org=call.org), id=_uuid(id))


def history_list(call: Call, resource: str, id: str):
    target = _history_target(call, resource, id)
    records = HistoryRecord.objects.filter(org=call.org, object_id=target.pk).order_by("-date_utc", "-id")
    return envelope(call, "HistoryRecords", [render.history_record(h) for h in records])


def history_add(call: Call, resource: str, id: str):
    target = _history_target(call, resource, id)
    body = call.body if isinstance(call.body, dict) else {}
    notes = body.get("HistoryRecords") or []
    if not notes:
        raise errors.RequestInvalid("No HistoryRecords were supplied.")
    return batch_write(
        call,
        "HistoryRecords",
        lambda data: history_note_add(org=call.org, object_id=target.pk, details=(data or {}).get("Details")),
        render.history_record,
        error_flag="HasValidationErrors",
    )


# Routing -----------------------------------------------------------------------------------------------------

_ROUTES = [
    (r"Organisation", {"GET": organisation_get}),
    (r"Contacts", {"GET": contacts_list, "PUT": contacts_write, "POST": contacts_write}),
    (r"Contacts/(?P<id>[^/]+)", {"GET": contact_get, "POST": contact_update}),
    (r"ContactGroups", {"GET": contact_groups_list, "PUT": contact_groups_write, "POST": contact_groups_write}),
    (rf"ContactGroups/{GUID}", {"GET": contact_group_get, "POST": contact_group_update}),
    (
        rf"ContactGroups/{GUID}/Contacts",
        {"PUT": contact_group_contacts_add, "DELETE": contact_group_contacts_clear},
    ),
    (rf"ContactGroups/{GUID}/Contacts/(?P<contact_id>[^/]+)", {"DELETE": contact_group_contact_remove}),
    (r"Invoices", {"GET": invoices_list, "PUT": invoices_write, "POST": invoices_write}),
    (r"Invoices/(?P<id>[^/]+)", {"GET": invoice_get, "POST": invoice_update}),
    (r"CreditNotes", {"GET": credit_notes_list, "PUT": credit_notes_write, "POST": credit_notes_write}),
    (r"CreditNotes/(?P<id>[^/]+)", {"GET": credit_note_get, "POST": credit_note_update}),
    (rf"CreditNotes/{GUID}/Allocations", {"PUT": allocations_create}),
    (rf"CreditNotes/{GUID}/Allocations/(?P<allocation_id>[^/]+)", {"DELETE": allocation_remove}),
    (r"Payments", {"GET": payments_list, "PUT": payments_write, "POST": payments_write}),
    (rf"Payments/{GUID}", {"GET": payment_get, "POST": payment_update}),
    (r"Items", {"GET": items_list, "PUT": items_write, "POST": items_write}),
    (r"Items/(?P<id>[^/]+)", {"GET": item_get, "POST": item_update, "DELETE": item_delete}),
    (r"Accounts", {"GET": accounts_list, "PUT": account_create}),
    (rf"Accounts/{GUID}", {"GET": account_get, "POST": account_update}),
    (r"TaxRates", {"GET": tax_rates_list, "PUT": tax_rates_write, "POST": tax_rates_write}),
    (r"TaxRates/(?P<id>[^/]+)", {"GET": tax_rate_get}),
    (r"TrackingCategories", {"GET": tracking_list, "PUT": tracking_create}),
    (rf"TrackingCategories/{GUID}", {"GET": tracking_get, "POST": tracking_update}),
    (rf"TrackingCategories/{GUID}/Options", {"PUT": tracking_options_add}),
    (r"Currencies", {"GET": currencies_list, "PUT": currencies_create}),
    (
        rf"(?P<resource>Invoices|CreditNotes|Contacts|Items|Payments)/{GUID}/History",
        {"GET": history_list, "PUT": history_add, "POST": history_add},
    ),
]
ROUTES = [(re.compile(rf"^{pattern}/?$", re.IGNORECASE), methods) for pattern, methods in _ROUTES]


def resolve(path: str, method: str):
    """(handler, kwargs) for an api.xro path, (None, None) when Xero has no such resource or method."""
    for pattern, methods in ROUTES:
        match = pattern.match(path.strip("/"))
        if match:
            handler = methods.get(method)
            if handler is None:
                return None, None
            return handler, match.groupdict()
    return None, None
