"""Reconciliation: per-tenant comparisons of the sources with Xero, and the mismatches people act on.

A run compares one tenant's source records with its Xero organisation for a period. Every difference it finds is
one Mismatch row with both sides' values, a plain-language explanation and a suggested action; people accept,
resync or let auto-heal act on them, and every action is audited.
"""

from django.conf import settings
from django.db import models

from connections.models import Connection
from tenants.models import TenantOwned


class ReconciliationPolicy(TenantOwned):
    """When a tenant is reconciled (a local time in the tenant's timezone) and what a run covers."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        OFF = "off", "Off (on demand only)"

    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    # Monday = 0, as datetime.weekday(); used when weekly.
    weekday = models.PositiveSmallIntegerField(default=0)
    # Local wall-clock time in Tenant.timezone.
    local_time = models.TimeField(default="03:00")
    # How far back a scheduled run looks.
    lookback_days = models.PositiveSmallIntegerField(default=35)
    include_items = models.BooleanField(default=False)
    # Records missing in Xero are re-staged by themselves after a run.
    auto_heal_missing = models.BooleanField(default=False)
    last_scheduled_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "reconciliation policies"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="reconciliation_policy_one_per_tenant")]

    def __str__(self):
        return f"reconciliation {self.frequency} at {self.local_time}"


class ReconciliationRun(TenantOwned):
    """One comparison of a tenant's sources with Xero over a period."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "On demand"
        BENCHMARK = "benchmark", "Benchmark"

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    xero_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"invoice": {"compared": n, "matched": n, "source_total": "123.45", "xero_total": "123.45"}, …};
    # totals are decimal strings, never floats.
    summary = models.JSONField(default=dict, blank=True)
    mismatch_count = models.PositiveIntegerField(default=0)
    xero_calls = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "started_at"], name="reconciliation_run_time")]

    def __str__(self):
        return f"reconciliation {self.period_start}–{self.period_end} ({self.status})"


class Mismatch(TenantOwned):
    """One difference between a source record and Xero, with both sides' values and what to do about it."""

    class Kind(models.TextChoices):
        MISSING_IN_XERO = "missing_in_xero", "Missing in Xero"
        MISSING_IN_SOURCE = "missing_in_source", "Missing in the source"
        AMOUNT_DIFFERS = "amount_differs", "Amount differs"
        TAX_DIFFERS = "tax_differs", "Tax differs"
        STATUS_DIFFERS = "status_differs", "Status differs"
        CONTACT_DIFFERS = "contact_differs", "Contact differs"
        DUPLICATE_IN_XERO = "duplicate_in_xero", "Duplicate in Xero"
        EDITED_IN_XERO = "edited_in_xero", "Edited in Xero after sync"
        VOIDED_IN_XERO = "voided_in_xero", "Voided or deleted in Xero"
        UNALLOCATED_CREDIT = "unallocated_credit", "Unallocated credit"
        ROUNDING_ADJUSTMENT = "rounding_adjustment", "Rounding adjustment applied"
        CURRENCY_DIFFERS = "currency_differs", "Currency or rate differs"

    # Informational kinds need no action and do not trigger the email.
    INFORMATIONAL = frozenset({Kind.ROUNDING_ADJUSTMENT})

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        RESYNC_REQUESTED = "resync_requested", "Resync requested"
        HEALED = "healed", "Auto-healed"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="mismatches")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    entity = models.CharField(max_length=20)  # contact, invoice, payment, credit_note, item
    source_connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    source_id = models.CharField(max_length=128, blank=True)
    # What people recognise: the order number, the contact's name, the invoice number.
    source_label = models.CharField(max_length=200, blank=True)
    xero_id = models.CharField(max_length=64, blank=True)
    xero_label = models.CharField(max_length=200, blank=True)
    # Both sides' values of what differs, as displayed strings (amounts as plain decimals).
    source_value = models.CharField(max_length=500, blank=True)
    xero_value = models.CharField(max_length=500, blank=True)
    # Xero minus source, for amount kinds; quantised to the currency's minor unit.
    difference = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    detail = models.CharField(max_length=500)
    suggested_action = models.CharField(max_length=300)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    note = models.CharField(max_length=500, blank=True)
    acted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "mismatches"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["tenant", "run", "kind"], name="mismatch_run_kind"),
            models.Index(fields=["tenant", "entity", "source_id"], name="mismatch_record"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.entity} {self.source_label or self.source_id}"
