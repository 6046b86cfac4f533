"""Accounting records of a simulated organisation.

Fields the simulator reasons about (keys, uniqueness, money, status, dates) are columns; the rest of a native record
(addresses, phones, payment terms, …) is kept verbatim in `extra` and returned as sent, as Xero does.
"""

import uuid

from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from sandbox.xero.models.auth import Organisation

MONEY = {"max_digits": 18, "decimal_places": 2, "default": 0}
UNIT = {"max_digits": 18, "decimal_places": 4, "default": 0}


def simulated_reference(to, **kwargs) -> models.ForeignKey:
    """A foreign key between the simulated organisation's own records, kept by the simulator and not by a database
    constraint.

    The simulator writes a reference only to a row it has just read or created in the same transaction, and its API
    deletes none of these rows but with their organisation; deleting still cascades or protects as on_delete says
    (Django does that, not the database). The constraints checked every row at commit: a bench_sync --orders 5000
    ran about 64,000 such checks (30,000 of them share-locking the one organisation row) for the simulator's
    documents, lines, payments and history."""
    return models.ForeignKey(to, db_constraint=False, **kwargs)


class Record(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    org = simulated_reference(Organisation, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True


class Currency(models.Model):
    org = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="currencies")
    code = models.CharField(max_length=3)
    description = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "code"], name="sandbox_xero_currency_unique")]

    def __str__(self):
        return self.code


class TaxRate(models.Model):
    org = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="tax_rates")
    tax_type = models.CharField(max_length=50)
    name = models.CharField(max_length=100)
    report_tax_type = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=10, default="ACTIVE")
    can_apply_to = models.JSONField(default=list, help_text="Account classes: ASSETS, EQUITY, EXPENSES, …")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "tax_type"], name="sandbox_xero_taxrate_unique")]

    def __str__(self):
        return self.tax_type


class TaxComponent(models.Model):
    tax_rate = models.ForeignKey(TaxRate, on_delete=models.CASCADE, related_name="components")
    name = models.CharField(max_length=100)
    rate = models.DecimalField(max_digits=8, decimal_places=4)
    is_compound = models.BooleanField(default=False)
    is_non_recoverable = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class Account(Record):
    code = models.CharField(max_length=10, blank=True)
    name = models.CharField(max_length=150)
    type = models.CharField(max_length=30)
    status = models.CharField(max_length=10, default="ACTIVE")
    tax_type = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    enable_payments = models.BooleanField(default=False)
    bank_account_number = models.CharField(max_length=50, blank=True)
    bank_account_type = models.CharField(max_length=20, blank=True)
    currency_code = models.CharField(max_length=3, blank=True)
    system_account = models.CharField(max_length=30, blank=True)
    account_class = models.CharField(max_length=10, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "code"], condition=~models.Q(code=""), name="sandbox_xero_account_code_unique"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class TrackingCategory(Record):
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, default="ACTIVE")

    def __str__(self):
        return self.name


class TrackingOption(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    category = models.ForeignKey(TrackingCategory, on_delete=models.CASCADE, related_name="options")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, default="ACTIVE")

    def __str__(self):
        return self.name


def _org_leading_key() -> models.ForeignKey:
    """The organisation of a record looked up by id in batches, indexed with the id rather than alone.

    A batch reads its 50 contacts or documents as `org_id = … AND id IN (…)`. An organisation the planner has no
    statistics for yet (every new one, until the table is analysed again) looks like a handful of rows, and with an
    index on org_id alone it read all of the organisation's rows to keep 50: 2,000 contacts, 4,600 invoices by the
    end of a bench_sync --orders 5000. With (org_id, id) both conditions are the index's, whatever the estimate."""
    return simulated_reference(Organisation, on_delete=models.CASCADE, related_name="+", db_index=False)


class Contact(Record):
    org = _org_leading_key()
    name = models.CharField(max_length=255)
    contact_number = models.CharField(max_length=50, blank=True)
    account_number = models.CharField(max_length=50, blank=True)
    email_address = models.CharField(max_length=255, blank=True)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, default="ACTIVE")
    is_customer = models.BooleanField(default=False)
    is_supplier = models.BooleanField(default=False)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["org", "id"], name="sandbox_xero_contact_org_id"),
            # What a batch looks its contacts up by, one key at a time (services/lookups.py).
            models.Index(fields=["contact_number"], name="sandbox_xero_contact_number"),
            models.Index(Upper("name"), name="sandbox_xero_contact_name"),
        ]

    def __str__(self):
        return self.name


class ContactGroup(Record):
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, default="ACTIVE")
    contacts = models.ManyToManyField(Contact, blank=True, related_name="groups")

    def __str__(self):
        return self.name


class Item(Record):
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=50, blank=True)
    description = models.CharField(max_length=4000, blank=True)
    purchase_description = models.CharField(max_length=4000, blank=True)
    is_sold = models.BooleanField(default=True)
    is_purchased = models.BooleanField(default=True)
    sales_details = models.JSONField(default=dict, blank=True)
    purchase_details = models.JSONField(default=dict, blank=True)
    inventory_asset_account_code = models.CharField(max_length=10, blank=True)
    quantity_on_hand = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "code"], name="sandbox_xero_item_code_unique")]

    def __str__(self):
        return self.code


class Document(Record):
    """What invoices and credit notes share: a contact, lines, totals and a status."""

    org = _org_leading_key()
    type = models.CharField(max_length=20)
    contact = simulated_reference(Contact, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, default="DRAFT")
    date = models.DateField()
    line_amount_types = models.CharField(max_length=10, default="Exclusive")
    reference = models.CharField(max_length=255, blank=True)
    currency_code = models.CharField(max_length=3)
    currency_rate = models.DecimalField(max_digits=18, decimal_places=6, default=1)
    sub_total = models.DecimalField(**MONEY)
    total_tax = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(**MONEY)
    amount_credited = models.DecimalField(**MONEY)
    fully_paid_on = models.DateField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class Invoice(Document):
    invoice_number = models.CharField(max_length=255, blank=True, db_index=True)
    due_date = models.DateField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "id"], name="sandbox_xero_invoice_org_id")]

    def __str__(self):
        return self.invoice_number or str(self.id)

    @property
    def amount_due(self):
        return self.total - self.amount_paid - self.amount_credited


class CreditNote(Document):
    credit_note_number = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["org", "id"], name="sandbox_xero_creditnote_org_id")]

    def __str__(self):
        return self.credit_note_number or str(self.id)

    @property
    def remaining_credit(self):
        return self.total - self.amount_paid - self.amount_credited


class LineItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    invoice = simulated_reference(Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines")
    credit_note = simulated_reference(CreditNote, null=True, blank=True, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True)
    quantity = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_amount = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    item_code = models.CharField(max_length=30, blank=True)
    account_code = models.CharField(max_length=10, blank=True)
    tax_type = models.CharField(max_length=50, blank=True)
    tax_amount = models.DecimalField(**MONEY)
    line_amount = models.DecimalField(**MONEY)
    discount_rate = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    discount_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    tracking = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self):
        return self.description or str(self.id)


class Payment(Record):
    invoice = simulated_reference(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    credit_note = simulated_reference(
        CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    account = simulated_reference(Account, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    amount = models.DecimalField(**MONEY)
    currency_rate = models.DecimalField(max_digits=18, decimal_places=6, default=1)
    reference = models.CharField(max_length=255, blank=True)
    is_reconciled = models.BooleanField(default=False)
    status = models.CharField(max_length=10, default="AUTHORISED")
    payment_type = models.CharField(max_length=20)

    def __str__(self):
        return f"{self.payment_type} {self.amount}"


class Allocation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)
    date = models.DateField()
    is_deleted = models.BooleanField(default=False)

    def __str__(self):
        return f"{self.amount} to {self.invoice_id}"


class HistoryRecord(models.Model):
    org = simulated_reference(Organisation, on_delete=models.CASCADE, related_name="+")
    object_id = models.UUIDField(db_index=True)
    changes = models.CharField(max_length=50)
    details = models.CharField(max_length=2000, blank=True)
    user = models.CharField(max_length=100, default="System Generated")
    date_utc = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["date_utc", "id"]

    def __str__(self):
        return self.changes
