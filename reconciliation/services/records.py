"""The compact records a run compares: a few fields per document, never the full JSON.

A run holds one of these per record of the period on each side (tens of thousands of small tuples), so memory is
bounded by the period's size, not by the size of the documents Xero or the source returned.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple


class SourceContact(NamedTuple):
    source_connection_id: int
    source_id: str
    name: str
    email: str


class SourceInvoice(NamedTuple):
    """An order as the source reports it, with what its Xero invoice should say."""

    source_connection_id: int
    source_id: str
    number: str
    contact_id: str  # source id of the contact the invoice goes to ("" when none)
    currency: str
    rate: Decimal | None  # the rate the invoice should carry, None when Xero's daily rate applies
    total: Decimal
    tax: Decimal
    date: date
    due_date: date
    invoiced: bool  # False: cancelled (or a state the posting policy does not invoice)
    why_not: str


class SourcePayment(NamedTuple):
    source_connection_id: int
    source_id: str
    order_id: str
    amount: Decimal
    currency: str
    date: date
    reference: str


class SourceRefund(NamedTuple):
    source_connection_id: int
    source_id: str
    order_id: str
    number: str  # the CreditNoteNumber it is sent with
    total: Decimal
    currency: str
    date: date


class SourceItem(NamedTuple):
    source_connection_id: int
    source_id: str
    sku: str
    name: str


class XeroContact(NamedTuple):
    xero_id: str
    number: str
    name: str
    email: str
    status: str
    updated_at: datetime | None


class XeroDocument(NamedTuple):
    """An invoice or a credit note."""

    xero_id: str
    number: str
    reference: str
    contact_id: str
    contact_name: str
    status: str
    total: Decimal
    tax: Decimal
    currency: str
    rate: Decimal
    date: date | None
    due_date: date | None
    updated_at: datetime | None
    amount_paid: Decimal
    remaining_credit: Decimal
    rounding: Decimal | None  # the amount of our rounding adjustment line, None when there is none


class XeroPayment(NamedTuple):
    xero_id: str
    invoice_id: str
    invoice_number: str
    amount: Decimal
    date: date | None
    reference: str
    status: str


class XeroItem(NamedTuple):
    xero_id: str
    code: str
    name: str
