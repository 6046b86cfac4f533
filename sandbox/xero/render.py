"""Records as Xero's JSON: its field names, dates and decimal places."""

from decimal import Decimal

from sandbox.xero.models import (
    Account,
    Contact,
    ContactGroup,
    CreditNote,
    Currency,
    HistoryRecord,
    Invoice,
    Item,
    LineItem,
    Organisation,
    Payment,
    TaxRate,
    TrackingCategory,
)
from sandbox.xero.services.documents import TaxCalc
from sandbox.xero.services.workspace import related_rows
from sandbox.xero.wire import iso_date_string, iso_datetime_string, ms_date

CENT = Decimal("0.01")
UNIT_4DP = Decimal("0.0001")


def _m(value) -> Decimal:
    return Decimal(value).quantize(CENT)


def related(obj, name: str) -> list:
    """`obj`'s `name` rows: the list a page read fetched for every document at once (`<name>_page`), else the
    relation (prefetched or not)."""
    rows = getattr(obj, f"{name}_page", None)
    return rows if rows is not None else related_rows(obj, name)


def _unit(value, unitdp: int):
    if value is None:
        return None
    return Decimal(value).quantize(UNIT_4DP if unitdp == 4 else CENT)


def organisation(org: Organisation) -> dict:
    return {
        "OrganisationID": str(org.tenant_id),
        "APIKey": "",
        "Name": org.name,
        "LegalName": org.name,
        "PaysTax": True,
        "Version": {"GB": "UK"}.get(org.country, org.country),
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 30 if org.country == "AU" else 31,
        "FinancialYearEndMonth": {"AU": 6, "NZ": 3, "GB": 3}.get(org.country, 12),
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_date(org.created_at),
        "OrganisationEntityType": "COMPANY",
        "Timezone": org.timezone,
        "ShortCode": org.short_code,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def contact(c: Contact, *, summary: bool = False) -> dict:
    body = {
        "ContactID": str(c.id),
        "ContactStatus": c.status,
        "Name": c.name,
        "UpdatedDateUTC": ms_date(c.updated_at),
        "IsSupplier": c.is_supplier,
        "IsCustomer": c.is_customer,
        "HasAttachments": False,
    }
    for field, value in (
        ("ContactNumber", c.contact_number),
        ("AccountNumber", c.account_number),
        ("EmailAddress", c.email_address),
        ("FirstName", c.first_name),
        ("LastName", c.last_name),
    ):
        if value:
            body[field] = value
    if not summary:
        body.update({"Addresses": [], "Phones": [], "ContactPersons": [], "HasValidationErrors": False})
        body.update(c.extra)
        body["ContactGroups"] = [
            {"ContactGroupID": str(g.id), "Name": g.name, "Status": g.status, "Contacts": []}
            for g in related_rows(c, "groups")
            if g.status == "ACTIVE"
        ]
    return body


def contact_ref(c: Contact) -> dict:
    body = {"ContactID": str(c.id), "Name": c.name, "ContactStatus": c.status, "HasValidationErrors": False}
    if c.contact_number:
        body["ContactNumber"] = c.contact_number
    if c.email_address:
        body["EmailAddress"] = c.email_address
    return body


def contact_group(g: ContactGroup, *, with_contacts: bool = False) -> dict:
    body = {"ContactGroupID": str(g.id), "Name": g.name, "Status": g.status, "HasValidationErrors": False}
    body["Contacts"] = [{"ContactID": str(c.id), "Name": c.name} for c in g.contacts.all()] if with_contacts else []
    return body


def line_item(line: LineItem, *, unitdp: int) -> dict:
    body = {
        "LineItemID": str(line.id),
        "Description": line.description,
        "TaxType": line.tax_type or "NONE",
        "TaxAmount": _m(line.tax_amount),
        "LineAmount": _m(line.line_amount),
        "Tracking": [
            {
                "TrackingCategoryID": t["TrackingCategoryID"],
                "TrackingOptionID": t["TrackingOptionID"],
                "Name": t["Name"],
                "Option": t["Option"],
            }
            for t in line.tracking
        ],
    }
    if line.quantity is not None:
        body["Quantity"] = Decimal(line.quantity).quantize(UNIT_4DP)
        body["UnitAmount"] = _unit(line.unit_amount, unitdp)
    if line.account_code:
        body["AccountCode"] = line.account_code
    if line.item_code:
        body["ItemCode"] = line.item_code
    if line.discount_rate is not None:
        body["DiscountRate"] = Decimal(line.discount_rate).quantize(CENT)
    if line.discount_amount is not None:
        body["DiscountAmount"] = _m(line.discount_amount)
    return body


def payment_ref(p: Payment) -> dict:
    return {
        "PaymentID": str(p.id),
        "Date": ms_date(p.date),
        "Amount": _m(p.amount),
        "Reference": p.reference,
        "CurrencyRate": Decimal(p.currency_rate).quantize(Decimal("0.000001")),
        "HasAccount": False,
        "HasValidationErrors": False,
    }


def _document_common(doc, *, unitdp: int, with_lines: bool) -> dict:
    body = {
        "Type": doc.type,
        "Contact": contact_ref(doc.contact),
        "Date": ms_date(doc.date),
        "DateString": iso_date_string(doc.date),
        "Status": doc.status,
        "LineAmountTypes": doc.line_amount_types,
        "SubTotal": _m(doc.sub_total),
        "TotalTax": _m(doc.total_tax),
        "Total": _m(doc.total),
        "UpdatedDateUTC": ms_date(doc.updated_at),
        "CurrencyCode": doc.currency_code,
        "CurrencyRate": Decimal(doc.currency_rate).quantize(Decimal("0.000001")),
        "HasAttachments": False,
        "HasErrors": False,
    }
    if doc.reference:
        body["Reference"] = doc.reference
    if doc.fully_paid_on:
        body["FullyPaidOnDate"] = ms_date(doc.fully_paid_on)
    if with_lines:
        body["LineItems"] = [line_item(line, unitdp=unitdp) for line in related(doc, "lines")]
    return body


def invoice(inv: Invoice, *, unitdp: int = 2, with_lines: bool = True) -> dict:
    body = {
        "InvoiceID": str(inv.id),
        "InvoiceNumber": inv.invoice_number,
        **_document_common(inv, unitdp=unitdp, with_lines=with_lines),
    }
    body.update(
        {
            "AmountDue": _m(inv.amount_due),
            "AmountPaid": _m(inv.amount_paid),
            "AmountCredited": _m(inv.amount_credited),
            "IsDiscounted": any(line.discount_rate or line.discount_amount for line in related(inv, "lines")),
            "Payments": [payment_ref(p) for p in related(inv, "payments") if p.status == "AUTHORISED"],
            "CreditNotes": [
                {
                    "CreditNoteID": str(a.credit_note_id),
                    "CreditNoteNumber": a.credit_note.credit_note_number,
                    "AppliedAmount": _m(a.amount),
                    "Total": _m(a.credit_note.total),
                    "HasErrors": False,
                }
                for a in related(inv, "allocations")
                if not a.is_deleted
            ],
            "Prepayments": [],
            "Overpayments": [],
        }
    )
    if inv.due_date:
        body["DueDate"] = ms_date(inv.due_date)
        body["DueDateString"] = iso_date_string(inv.due_date)
    if inv.url:
        body["Url"] = inv.url
    for key in ("SentToContact", "BrandingThemeID"):
        if key in inv.extra:
            body[key] = inv.extra[key]
    return body


def credit_note(cn: CreditNote, *, unitdp: int = 2, with_lines: bool = True) -> dict:
    body = {
        "CreditNoteID": str(cn.id),
        "CreditNoteNumber": cn.credit_note_number,
        **_document_common(cn, unitdp=unitdp, with_lines=with_lines),
    }
    body.update(
        {
            "RemainingCredit": _m(cn.remaining_credit),
            "AppliedAmount": _m(cn.amount_credited),
            "Allocations": [allocation(a) for a in related(cn, "allocations") if not a.is_deleted],
            "Payments": [payment_ref(p) for p in related(cn, "payments") if p.status == "AUTHORISED"],
        }
    )
    return body


def allocation(a) -> dict:
    return {
        "AllocationID": str(a.id),
        "Amount": _m(a.amount),
        "Date": ms_date(a.date),
        "Invoice": {"InvoiceID": str(a.invoice_id), "InvoiceNumber": a.invoice.invoice_number},
        "IsDeleted": a.is_deleted,
    }


def payment(p: Payment) -> dict:
    doc = p.invoice or p.credit_note
    body = {
        "PaymentID": str(p.id),
        "Date": ms_date(p.date),
        "Amount": _m(p.amount),
        "BankAmount": _m(p.amount),
        "CurrencyRate": Decimal(p.currency_rate).quantize(Decimal("0.000001")),
        "PaymentType": p.payment_type,
        "Status": p.status,
        "UpdatedDateUTC": ms_date(p.updated_at),
        "IsReconciled": p.is_reconciled,
        "HasAccount": True,
        "HasValidationErrors": False,
        "Account": {"AccountID": str(p.account.id), "Code": p.account.code},
    }
    if p.reference:
        body["Reference"] = p.reference
    if p.invoice_id:
        body["Invoice"] = {
            "InvoiceID": str(doc.id),
            "InvoiceNumber": doc.invoice_number,
            "Type": doc.type,
            "Contact": contact_ref(doc.contact),
        }
    else:
        body["CreditNote"] = {"CreditNoteID": str(doc.id), "CreditNoteNumber": doc.credit_note_number}
    return body


def item(i: Item, *, unitdp: int = 2) -> dict:
    body = {
        "ItemID": str(i.id),
        "Code": i.code,
        "IsSold": i.is_sold,
        "IsPurchased": i.is_purchased,
        "IsTrackedAsInventory": bool(i.inventory_asset_account_code),
        "UpdatedDateUTC": ms_date(i.updated_at),
    }
    if i.name:
        body["Name"] = i.name
    if i.description:
        body["Description"] = i.description
    if i.purchase_description:
        body["PurchaseDescription"] = i.purchase_description
    for field, details in (("SalesDetails", i.sales_details), ("PurchaseDetails", i.purchase_details)):
        rendered = {k: v for k, v in details.items() if k != "UnitPrice"}
        if "UnitPrice" in details:
            rendered["UnitPrice"] = _unit(details["UnitPrice"], unitdp)
        body[field] = rendered
    if i.inventory_asset_account_code:
        body["InventoryAssetAccountCode"] = i.inventory_asset_account_code
        body["QuantityOnHand"] = Decimal(i.quantity_on_hand).quantize(UNIT_4DP)
    return body


def account(a: Account) -> dict:
    body = {
        "AccountID": str(a.id),
        "Code": a.code,
        "Name": a.name,
        "Status": a.status,
        "Type": a.type,
        "TaxType": a.tax_type or "NONE",
        "Class": a.account_class or None,
        "EnablePaymentsToAccount": a.enable_payments,
        "ShowInExpenseClaims": False,
        "ReportingCode": "",
        "HasAttachments": False,
        "UpdatedDateUTC": ms_date(a.updated_at),
        "AddToWatchlist": False,
    }
    if a.description:
        body["Description"] = a.description
    if a.system_account:
        body["SystemAccount"] = a.system_account
    if a.type == "BANK":
        body["BankAccountNumber"] = a.bank_account_number
        body["BankAccountType"] = a.bank_account_type or "BANK"
        body["CurrencyCode"] = a.currency_code or a.org.base_currency
    if body["Class"] is None:
        body.pop("Class")
    return body


def tax_rate(r: TaxRate) -> dict:
    effective = TaxCalc(r).effective_rate().quantize(UNIT_4DP)
    classes = set(r.can_apply_to)
    body = {
        "Name": r.name,
        "TaxType": r.tax_type,
        "CanApplyToAssets": "ASSETS" in classes,
        "CanApplyToEquity": "EQUITY" in classes,
        "CanApplyToExpenses": "EXPENSES" in classes,
        "CanApplyToLiabilities": "LIABILITIES" in classes,
        "CanApplyToRevenue": "REVENUE" in classes,
        "DisplayTaxRate": effective,
        "EffectiveRate": effective,
        "Status": r.status,
        "TaxComponents": [
            {
                "Name": c.name,
                "Rate": Decimal(c.rate).quantize(UNIT_4DP),
                "IsCompound": c.is_compound,
                "IsNonRecoverable": c.is_non_recoverable,
            }
            for c in r.components.all()
        ],
    }
    if r.report_tax_type:  # not used in the US (and the spec's enum has no null)
        body["ReportTaxType"] = r.report_tax_type
    return body


def tracking_category(t: TrackingCategory, *, include_archived: bool = False) -> dict:
    return {
        "TrackingCategoryID": str(t.id),
        "Name": t.name,
        "Status": t.status,
        "Options": [tracking_option(o) for o in related_rows(t, "options") if include_archived or o.status == "ACTIVE"],
    }


def tracking_option(o) -> dict:
    return {
        "TrackingOptionID": str(o.id),
        "Name": o.name,
        "Status": o.status,
        "HasValidationErrors": False,
        "IsDeleted": o.status == "DELETED",
        "IsArchived": o.status == "ARCHIVED",
        "IsActive": o.status == "ACTIVE",
    }


def currency(c: Currency) -> dict:
    return {"Code": c.code, "Description": c.description}


def history_record(h: HistoryRecord) -> dict:
    return {
        "Changes": h.changes,
        "DateUTCString": iso_datetime_string(h.date_utc),
        "DateUTC": ms_date(h.date_utc),
        "User": h.user,
        "Details": h.details,
    }
