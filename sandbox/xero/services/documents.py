"""Invoices and credit notes: lines, per-line tax rounding, totals, and the status rules Xero enforces."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone

from sandbox.xero.errors import ElementInvalid, NotFound
from sandbox.xero.models import Contact, CreditNote, Invoice, LineItem, Organisation, TaxRate, TrackingCategory
from sandbox.xero.services.contacts import contact_find, contact_mark_role, contact_refs, contact_write
from sandbox.xero.services.history import history_add
from sandbox.xero.services.rows import new_row
from sandbox.xero.services.webhooks import webhook_event_queue
from sandbox.xero.services.workspace import Workspace, fold, parse_pk, related_rows, workspace_single
from sandbox.xero.wire import parse_date

CENT = Decimal("0.01")
UNIT_4DP = Decimal("0.0001")
HUNDRED = Decimal(100)
CREATABLE = ("DRAFT", "SUBMITTED", "AUTHORISED")
EDITABLE = ("DRAFT", "SUBMITTED", "AUTHORISED")
INVOICE_TYPES = ("ACCREC", "ACCPAY")
CREDIT_NOTE_TYPES = ("ACCRECCREDIT", "ACCPAYCREDIT")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value, field: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ElementInvalid(f"{field} must be a number.") from None
    if not result.is_finite():
        raise ElementInvalid(f"{field} must be a number.")
    return result


@dataclass
class TaxCalc:
    rate: TaxRate | None

    def effective_rate(self) -> Decimal:
        """Percentage; compound components apply on the amount plus the tax before them."""
        if self.rate is None:
            return Decimal(0)
        simple = Decimal(0)
        total = Decimal(0)
        for component in related_rows(self.rate, "components"):
            if component.is_compound:
                total += component.rate * (HUNDRED + simple) / HUNDRED
            else:
                simple += component.rate
                total += component.rate
        return total


def line_tax(*, line_amount: Decimal, rate_percent: Decimal, line_amount_types: str) -> Decimal:
    """Tax of one line, rounded to 2 dp on its own (Xero sums rounded line taxes, never taxes the total)."""
    if line_amount_types == "NoTax" or not rate_percent:
        return Decimal("0.00")
    if line_amount_types == "Inclusive":
        return money(line_amount * rate_percent / (HUNDRED + rate_percent))
    return money(line_amount * rate_percent / HUNDRED)


def _tracking(*, ws: Workspace, entries) -> list[dict]:
    if not entries:
        return []
    if len(entries) > 2:
        raise ElementInvalid("A line item can have at most 2 tracking categories.")
    resolved = []
    for entry in entries:
        categories = ws.tracking_categories()
        if entry.get("TrackingCategoryID"):
            wanted_id = parse_pk(TrackingCategory, entry["TrackingCategoryID"], strict=True)
            category = next((c for c in categories if c.pk == wanted_id), None)
        else:
            wanted_name = fold(str(entry.get("Name", "")))
            category = next((c for c in categories if fold(c.name) == wanted_name), None)
        if category is None:
            raise ElementInvalid(
                f"Tracking category '{entry.get('Name') or entry.get('TrackingCategoryID')}' is not valid."
            )
        wanted = entry.get("TrackingOptionID") or entry.get("Option")
        option = next(
            (
                o
                for o in related_rows(category, "options")
                if o.status == "ACTIVE" and (str(o.id) == str(wanted) or o.name.lower() == str(wanted).lower())
            ),
            None,
        )
        if option is None:
            raise ElementInvalid(f"The tracking option '{wanted}' is not valid for category '{category.name}'.")
        resolved.append(
            {
                "Name": category.name,
                "Option": option.name,
                "TrackingCategoryID": str(category.id),
                "TrackingOptionID": str(option.id),
            }
        )
    return resolved


def _build_line(
    *, ws: Workspace, data: dict, doc_type: str, line_amount_types: str, unitdp: int, position: int
) -> LineItem:
    if not isinstance(data, dict):
        raise ElementInvalid("A line item must be an object.")
    unit_places = UNIT_4DP if unitdp == 4 else CENT
    line = new_row(LineItem, position=position, description=str(data.get("Description") or ""))
    item = None
    if data.get("ItemCode"):
        item = next(iter(ws.items_coded(data["ItemCode"])), None)
        if item is None:
            raise ElementInvalid(f"Item code '{data['ItemCode']}' is not valid")
        line.item_code = item.code
        details = item.sales_details if doc_type in ("ACCREC", "ACCRECCREDIT") else item.purchase_details
        line.description = line.description or item.description or item.name
    else:
        details = {}
    quantity = data.get("Quantity")
    unit = data.get("UnitAmount", details.get("UnitPrice"))
    given_line_amount = data.get("LineAmount")
    if quantity is None and unit is None and given_line_amount is None:
        # A description-only line: no amounts at all.
        line.quantity, line.unit_amount = None, None
        line.line_amount = Decimal("0.00")
    else:
        if unit is None and given_line_amount is not None:
            quantity = Decimal(1) if quantity is None else quantity
            q = _decimal(quantity, "Quantity")
            unit = _decimal(given_line_amount, "LineAmount") / (q or Decimal(1))
        line.quantity = _decimal(1 if quantity is None else quantity, "Quantity").quantize(UNIT_4DP, ROUND_HALF_UP)
        line.unit_amount = _decimal(unit or 0, "UnitAmount").quantize(unit_places, ROUND_HALF_UP)
        gross = line.quantity * line.unit_amount
        rate = data.get("DiscountRate")
        amount = data.get("DiscountAmount")
        if (rate not in (None, 0, "0") or amount not in (None, 0, "0")) and doc_type != "ACCREC":
            raise ElementInvalid("Discounts are only supported on sales invoices (ACCREC).")
        if rate is not None:
            line.discount_rate = _decimal(rate, "DiscountRate")
            if not Decimal(0) <= line.discount_rate <= HUNDRED:
                raise ElementInvalid("DiscountRate must be between 0 and 100.")
            gross = gross * (HUNDRED - line.discount_rate) / HUNDRED
        elif amount is not None:
            line.discount_amount = money(_decimal(amount, "DiscountAmount"))
            gross -= line.discount_amount
        line.line_amount = money(gross)
    account_code = data.get("AccountCode") or details.get("AccountCode") or ""
    account = None
    if data.get("AccountID"):
        account = ws.account_by_id(data["AccountID"])
    elif account_code:
        account = ws.account_by_code(account_code)
    if (account_code or data.get("AccountID")) and (account is None or account.status != "ACTIVE"):
        raise ElementInvalid(
            f"Account code '{account_code or data.get('AccountID')}' is not a valid code for this document."
        )
    line.account_code = account.code if account else ""
    tax_type = data.get("TaxType") or details.get("TaxType") or (account.tax_type if account else "")
    rate = None
    if line_amount_types != "NoTax" and tax_type:
        rate = ws.tax_rate(tax_type)
        if rate is None or rate.status != "ACTIVE":
            raise ElementInvalid(
                f"The TaxType code '{tax_type}' does not exist or cannot be used with this type of transaction."
            )
    line.tax_type = tax_type if line_amount_types != "NoTax" else (tax_type or "NONE")
    computed = line_tax(
        line_amount=line.line_amount, rate_percent=ws.effective_rate(rate), line_amount_types=line_amount_types
    )
    if data.get("TaxAmount") is not None and line_amount_types != "NoTax":
        # Xero lets a caller override the calculated tax of a line (e.g. to match the source system).
        line.tax_amount = money(_decimal(data["TaxAmount"], "TaxAmount"))
    else:
        line.tax_amount = computed
    line.tracking = _tracking(ws=ws, entries=data.get("Tracking") or [])
    if data.get("LineItemID"):
        line.id = data["LineItemID"]
    return line


def _totals(doc, lines: list[LineItem]) -> None:
    tax = sum((line.tax_amount for line in lines), Decimal("0.00"))
    amounts = sum((line.line_amount for line in lines), Decimal("0.00"))
    doc.total_tax = money(tax)
    doc.sub_total = money(amounts - tax) if doc.line_amount_types == "Inclusive" else money(amounts)
    doc.total = money(doc.sub_total + doc.total_tax)


def _resolve_contact(*, ws: Workspace, data: dict, doc_type: str) -> Contact:
    ref = data.get("Contact")
    if not isinstance(ref, dict) or not any(ref.get(k) for k in ("ContactID", "ContactNumber", "Name")):
        raise ElementInvalid("A Contact must be specified for this type of transaction")
    contact = contact_find(org=ws.org, ref=ref, ws=ws)
    if contact is None:
        if ref.get("ContactID"):
            raise ElementInvalid(f"The contact with ContactID {ref['ContactID']} could not be found.")
        if not ref.get("Name"):
            raise ElementInvalid("A Contact must be specified for this type of transaction")
        # Xero creates a contact on the fly when a document names an unknown one.
        contact, _ = contact_write(org=ws.org, data=ref, create_only=True, ws=ws)
    return contact


def documents_prefetch(*, ws: Workspace, elements: list, kind: str, document_id=None) -> None:
    """Read up front what a batch of documents refers to: the documents, their contacts and item codes."""
    model, id_field, number_field = (
        (Invoice, "InvoiceID", "InvoiceNumber")
        if kind == "invoice"
        else (CreditNote, "CreditNoteID", "CreditNoteNumber")
    )
    elements = [e for e in elements if isinstance(e, dict)]
    ids = [document_id] if document_id else []
    ids += [e[id_field] for e in elements if e.get(id_field)]
    numbers = [str(e[number_field]) for e in elements if e.get(number_field)]
    numbers += [n.strip() for n in numbers]
    ws.documents_load(model, ids=ids, numbers=numbers)
    ws.contacts_load(**contact_refs([e["Contact"] for e in elements if isinstance(e.get("Contact"), dict)]))
    codes = [
        line["ItemCode"]
        for e in elements
        if isinstance(e.get("LineItems"), list)
        for line in e["LineItems"]
        if isinstance(line, dict) and line.get("ItemCode")
    ]
    if codes:
        ws.items_load(codes=codes)


def document_write(
    *,
    org: Organisation,
    data: dict,
    kind: str,
    create_only: bool,
    unitdp: int = 2,
    document_id=None,
    ws: Workspace | None = None,
) -> tuple[Invoice | CreditNote, bool]:
    """Create or update one invoice (kind "invoice") or credit note (kind "creditnote").

    Enforces: ACCREC numbers unique, lines priced and taxed per line, status transitions (DRAFT → SUBMITTED →
    AUTHORISED; DELETED only from DRAFT/SUBMITTED; VOIDED only from AUTHORISED without payments), and no edits once
    paid, voided or deleted.
    """
    if not isinstance(data, dict):
        raise ElementInvalid("An element must be an object.")
    with workspace_single(org, ws) as ws:
        return _document_write(
            ws=ws, data=data, kind=kind, create_only=create_only, unitdp=unitdp, document_id=document_id
        )


def _document_write(*, ws: Workspace, data: dict, kind: str, create_only: bool, unitdp: int, document_id):
    org = ws.org
    is_invoice = kind == "invoice"
    model = Invoice if is_invoice else CreditNote
    id_field = "InvoiceID" if is_invoice else "CreditNoteID"
    number_field, number_column = (
        ("InvoiceNumber", "invoice_number") if is_invoice else ("CreditNoteNumber", "credit_note_number")
    )
    types = INVOICE_TYPES if is_invoice else CREDIT_NOTE_TYPES
    label = "Invoice" if is_invoice else "Credit Note"
    doc = None
    target = document_id or data.get(id_field)
    if target:
        if create_only and document_id is None:
            raise ElementInvalid(f"{id_field} cannot be specified when creating a {label.lower()}")
        doc = ws.document_by_id(model, target)  # a malformed GUID finds nothing
        if doc is None:
            if document_id:
                raise NotFound
            raise ElementInvalid(f"{label} with {id_field} {target} could not be found.")
    elif not create_only and data.get(number_field):
        # POST without an ID updates the document that already carries this number.
        doc = next(iter(ws.documents_numbered(model, data[number_field])), None)
        if doc is not None and doc.type not in ("ACCREC", "ACCRECCREDIT"):
            doc = None
    created = doc is None
    old_status = None if created else doc.status
    new_status = data.get("Status")
    if created:
        doc_type = data.get("Type")
        if doc_type not in types:
            raise ElementInvalid(f"{label} Type must be one of {', '.join(types)}.")
        if new_status and new_status not in CREATABLE:
            raise ElementInvalid(f"{label}s can only be created with a status of DRAFT, SUBMITTED or AUTHORISED.")
        doc = new_row(model, org_id=org.pk, type=doc_type, currency_code=org.base_currency)
    else:
        ws.claim(doc)
        if data.get("Type") and data["Type"] != doc.type:
            raise ElementInvalid(f"The {label.lower()} Type cannot be changed.")
        if doc.status not in EDITABLE:
            raise ElementInvalid(f"{label} not of valid status for modification")
        content_keys = {"LineItems", "Contact", "LineAmountTypes", "CurrencyCode", "Date"}
        has_allocations = doc.amount_paid or doc.amount_credited
        if doc.status == "AUTHORISED" and has_allocations and content_keys & data.keys():
            raise ElementInvalid("This document cannot be edited as it has a payment or credit note allocated to it.")
    errors = []
    if new_status and new_status != old_status:
        if new_status == "PAID":
            errors.append(f"{label} status cannot be set to PAID; Xero sets it when the amount due is zero.")
        elif new_status == "DELETED" and old_status not in ("DRAFT", "SUBMITTED"):
            errors.append(f"Only DRAFT or SUBMITTED {label.lower()}s can be deleted.")
        elif new_status == "VOIDED" and old_status != "AUTHORISED":
            errors.append(f"Only AUTHORISED {label.lower()}s can be voided.")
        elif new_status == "VOIDED" and (doc.amount_paid or doc.amount_credited):
            errors.append(
                "This document cannot be voided as it has a payment or credit note allocated to it. "
                "Remove the payments and allocations first."
            )
        elif old_status == "AUTHORISED" and new_status in ("DRAFT", "SUBMITTED"):
            errors.append(f"An AUTHORISED {label.lower()} cannot be returned to {new_status}.")
        elif new_status not in ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED", "VOIDED"):
            errors.append(f"Status '{new_status}' is not valid.")
    if errors:
        raise ElementInvalid(*errors)
    if "Contact" in data or created:
        doc.contact = _resolve_contact(ws=ws, data=data, doc_type=doc.type)
    if "LineAmountTypes" in data:
        if data["LineAmountTypes"] not in LINE_AMOUNT_TYPES:
            raise ElementInvalid(f"LineAmountTypes '{data['LineAmountTypes']}' is not valid.")
        doc.line_amount_types = data["LineAmountTypes"]
    try:
        if data.get("Date"):
            doc.date = parse_date(data["Date"])
        elif created:
            doc.date = timezone.now().date()
        if is_invoice and "DueDate" in data:
            doc.due_date = parse_date(data["DueDate"]) if data["DueDate"] else None
    except ValueError:
        raise ElementInvalid("A date is not in a valid format (use YYYY-MM-DD).") from None
    if data.get("CurrencyCode"):
        if str(data["CurrencyCode"]) not in ws.currency_codes():
            raise ElementInvalid(f"The currency code '{data['CurrencyCode']}' is not enabled for this organisation.")
        doc.currency_code = data["CurrencyCode"]
    if data.get("CurrencyRate") is not None:
        doc.currency_rate = _decimal(data["CurrencyRate"], "CurrencyRate")
    if "Reference" in data:
        doc.reference = str(data["Reference"] or "")[:255]
    if is_invoice and "Url" in data:
        doc.url = str(data["Url"] or "")
    if number_field in data and data[number_field]:
        number = str(data[number_field]).strip()
        if len(number) > 255:
            raise ElementInvalid(f"{number_field} must not be more than 255 characters long.")
        if doc.type in ("ACCREC", "ACCRECCREDIT") and ws.documents_numbered(model, number, exclude_id=doc.id):
            raise ElementInvalid(f"{'Invoice' if is_invoice else 'Credit Note'} # must be unique.")
        setattr(doc, number_column, number)
    lines = None
    if "LineItems" in data or created:
        raw_lines = data.get("LineItems") or []
        if not isinstance(raw_lines, list):
            raise ElementInvalid("LineItems must be a list.")
        lines = [
            _build_line(
                ws=ws, data=raw, doc_type=doc.type, line_amount_types=doc.line_amount_types, unitdp=unitdp, position=i
            )
            for i, raw in enumerate(raw_lines)
        ]
    elif "LineAmountTypes" in data:
        raise ElementInvalid("LineItems must be sent when LineAmountTypes changes.")
    status = new_status or doc.status
    if status in ("SUBMITTED", "AUTHORISED"):
        current_lines = lines if lines is not None else ws.document_lines(doc)
        if not current_lines:
            errors.append(f"A {label.lower()} must have at least one line item to be {status.lower()}.")
        for line in current_lines:
            if line.line_amount and not line.account_code:
                errors.append("Account code must be specified for line items with an amount.")
                break
    if errors:
        raise ElementInvalid(*errors)
    if lines is not None:
        _totals(doc, lines)
    if status == "AUTHORISED" and doc.total < 0:
        raise ElementInvalid(f"The {label.lower()} total cannot be negative.")
    if created and not getattr(doc, number_column) and doc.type in ("ACCREC", "ACCRECCREDIT"):
        setattr(doc, number_column, _next_number(ws=ws, is_invoice=is_invoice, model=model, column=number_column))
    doc.status = status
    doc.updated_at = timezone.now()
    extra = dict(doc.extra)
    for key in ("BrandingThemeID", "SentToContact", "ExpectedPaymentDate", "PlannedPaymentDate"):
        if key in data:
            extra[key] = data[key]
    doc.extra = extra
    ws.save(doc)
    if lines is not None:
        ws.set_lines(doc, lines)
    contact_mark_role(contact=doc.contact, document_type=doc.type, ws=ws)
    _after_write(ws=ws, doc=doc, created=created, old_status=old_status, is_invoice=is_invoice)
    return doc, created


def _next_number(*, ws: Workspace, is_invoice: bool, model, column: str) -> str:
    counter = "invoice_sequence" if is_invoice else "credit_note_sequence"
    prefix = "INV-" if is_invoice else "CN-"
    return ws.next_number(model=model, prefix=prefix, counter=counter, column=column)


def _after_write(*, ws: Workspace, doc, created: bool, old_status, is_invoice: bool) -> None:
    org = ws.org
    if created:
        change = "Created"
    elif doc.status != old_status:
        change = {"AUTHORISED": "Approved", "VOIDED": "Voided", "DELETED": "Deleted", "PAID": "Paid"}.get(
            doc.status, "Updated"
        )
    else:
        change = "Edited"
    history_add(org=org, object_id=doc.id, changes=change, details=f"{doc.type} {doc.status} {doc.total}", ws=ws)
    if is_invoice:
        webhook_event_queue(org=org, category="INVOICE", resource_id=doc.id, created=created, ws=ws)
    else:
        webhook_event_queue(
            org=org,
            category="CREDITNOTE",
            resource_id=doc.id,
            created=created,
            data={"Type": doc.type, "Status": doc.status},
            ws=ws,
        )


def document_settle(*, doc, on: date | None, ws: Workspace | None = None) -> None:
    """Recompute PAID: a document whose amount due reaches zero is PAID; one with money owing again is AUTHORISED.

    `doc` carries its new amount_paid/amount_credited (with `ws`, touched before they changed; without, saved whole).
    """
    outstanding = doc.total - doc.amount_paid - doc.amount_credited
    old = doc.status
    if ws is not None:
        ws.touch(doc)
    if outstanding <= 0 and doc.status == "AUTHORISED":
        doc.status, doc.fully_paid_on = "PAID", on
    elif outstanding > 0 and doc.status == "PAID":
        doc.status, doc.fully_paid_on = "AUTHORISED", None
    doc.updated_at = timezone.now()
    if ws is not None:
        ws.save(doc)
    else:
        doc.save()
    if doc.status != old:
        # The batch's workspace knows the organisation; doc.org would be read once per payment.
        with workspace_single(ws.org if ws is not None else doc.org, ws) as ws:
            _after_write(ws=ws, doc=doc, created=False, old_status=old, is_invoice=isinstance(doc, Invoice))
    elif isinstance(doc, Invoice):
        # Money applied to or taken off an invoice changes it (AmountPaid, AmountDue): Xero raises an UPDATE.
        with workspace_single(ws.org if ws is not None else doc.org, ws) as ws:
            webhook_event_queue(org=ws.org, category="INVOICE", resource_id=doc.id, created=False, ws=ws)
