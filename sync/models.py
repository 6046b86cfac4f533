"""The durable truth of the sync engine: the inbox, jobs, cross-references, the audit trail and the drain lease.

A killed worker loses nothing because every state lives here, not in the task queue: the queue only says "look
at the inbox" or "drain this connection", and both are safe to run twice.
"""

from decimal import Decimal

from django.db import models

from connections.models import Connection
from core.fields import JSONField, JSONTextField
from tenants.models import Tenant, TenantOwned


class InboundEvent(TenantOwned):
    """One verified delivery or pushed batch, stored before it is answered; processed asynchronously."""

    # Every index of this table leads with the tenant (Meta): one of the tenant alone would only be written to, and
    # the planner, taking a new tenant for a few rows, chose it over the primary key to read events by id.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        POLL = "poll", "Polling"
        API = "api", "Partner API"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    # What the delivery is about, e.g. "order", "customer", "INVOICE.UPDATE".
    kind = models.CharField(max_length=60)
    # Redelivery of the same event is a no-op: the provider's event id, or a hash of its identifying fields.
    dedupe_key = models.CharField(max_length=128)
    # Written once, read back whole by processing: json, not jsonb (core.fields.JSONTextField).
    body = JSONTextField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "connection", "dedupe_key"], name="inbound_event_dedupe_per_connection"
            )
        ]
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="inbound_event_pending")]

    def __str__(self):
        return f"{self.source} {self.kind} ({self.status})"


class SyncJob(TenantOwned):
    """One target effect in Xero (create a contact, create an invoice, apply a payment, …) for one source record.

    The idempotency key is derived from tenant, source record, version and operation, so staging the same change
    twice finds the same job.
    """

    # Every index of this table leads with the tenant (Meta.indexes): one of the tenant alone would only be rewritten.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Operation(models.TextChoices):
        CONTACT_UPSERT = "contact.upsert", "Create or update contact"
        INVOICE_UPSERT = "invoice.upsert", "Create or update invoice"
        INVOICE_VOID = "invoice.void", "Void invoice"
        PAYMENT_CREATE = "payment.create", "Apply payment"
        CREDIT_NOTE_CREATE = "credit_note.create", "Create credit note"
        CREDIT_NOTE_ALLOCATE = "credit_note.allocate", "Allocate credit note to its invoice"
        ITEM_UPSERT = "item.upsert", "Create or update item"
        CONTACT_NOTE = "contact.note", "Add note to contact history"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        DEAD = "dead", "Dead letter"
        DISCARDED = "discarded", "Discarded"

    # Lower runs first: payments and refunds before new records; live changes before backfill.
    PRIORITY_PAYMENT = 10
    PRIORITY_LIVE = 20
    PRIORITY_BACKFILL = 50

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    xero_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    operation = models.CharField(max_length=30, choices=Operation.choices)
    entity = models.CharField(max_length=20)  # contact, invoice, payment, credit_note, allocation, item
    source_id = models.CharField(max_length=128)
    source_version = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=64)
    priority = models.PositiveSmallIntegerField(default=PRIORITY_LIVE)
    # The canonical record (JSON), what the Xero payload is built from at send time.
    record = JSONField()
    # A job waits until the cross-reference of this (entity, source_id) exists: a contact before its invoice.
    depends_on_entity = models.CharField(max_length=20, blank=True)
    depends_on_source_id = models.CharField(max_length=128, blank=True)

    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    # Plain language, for the person who fixes it; grouped by in "needs attention".
    cause = models.CharField(max_length=500, blank=True)
    payload = JSONField(null=True, blank=True)  # last payload sent
    response = JSONField(null=True, blank=True)  # Xero's answer for this element
    xero_id = models.CharField(max_length=64, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    discard_reason = models.CharField(max_length=500, blank=True)
    # The historical migration that staged this job, if any: its progress is counted over these jobs.
    backfill = models.ForeignKey(
        "Backfill", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="sync_job_idempotency_key"),
        ]
        # A job's row is rewritten as it moves from state to state (pending, running, done), and no rewrite can
        # skip an index that holds its state: so the indexes that serve one kind of job hold only that kind (partial),
        # and a job that is running or done is in four indexes (key, idempotency key, record, dependency) rather
        # than eight.
        # Every index leads with the tenant, which serves the queries by tenant alone as well.
        indexes = [
            models.Index(
                fields=["tenant", "backfill", "state"],
                name="sync_job_backfill",
                condition=models.Q(backfill__isnull=False),
            ),
            # The drain's window: due pending jobs in priority order.
            models.Index(
                fields=["tenant", "xero_connection", "priority", "next_attempt_at"],
                name="sync_job_due",
                condition=models.Q(state="pending"),
            ),
            models.Index(fields=["tenant", "entity", "source_id"], name="sync_job_record"),
            # What operators see and replay, grouped by cause.
            models.Index(
                fields=["tenant", "state", "cause"],
                name="sync_job_cause",
                condition=models.Q(state__in=["needs_attention", "dead", "discarded"]),
            ),
            # The jobs of given records' dependants, in every state: the pending ones are woken when the record
            # lands (without it each batch the drain sends read every pending job of the connection), and the
            # payments of an invoice, done or not, settle what is due on it (payloads, staging): when it held
            # pending jobs only, each of those reads scanned all of the tenant's jobs.
            models.Index(fields=["tenant", "depends_on_entity", "depends_on_source_id"], name="sync_job_dependency"),
        ]

    def __str__(self):
        return f"{self.operation} {self.entity}:{self.source_id} ({self.state})"


class Backfill(TenantOwned):
    """A historical migration: the tenant's source records from a date, first as a dry run, then for real.

    A dry run reads the sources and Xero and reports what would be created, matched or blocked; a real run links
    the matched records and stages backfill-priority jobs, which the drain sends within `budget_share` of the
    day's Xero calls. Counts of a real run are refreshed from its jobs (sync.services.backfill.backfill_refresh).
    """

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    since = models.DateTimeField(help_text="Records dated on or after this moment (UTC).")
    # User-facing entity names: contacts, orders, payments, refunds, products.
    entities = models.JSONField(default=list)
    dry_run = models.BooleanField(default=False)
    budget_share = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.50"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    requested_by = models.CharField(max_length=200, blank=True)
    # Records read from the sources (a dry run) or effects planned in Xero (a real run's jobs plus linked records).
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)
    # Nothing to do: already in Xero with this version, or skipped by policy (cancelled before it was ever sent).
    unchanged = models.PositiveIntegerField(default=0)
    # Dry run: per entity counts, causes of blocks with counts, per-record lines. Real run: what was linked.
    report = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(budget_share__gt=0) & models.Q(budget_share__lte=1), name="backfill_share_range"
            ),
            # One real run at a time per tenant: the drain reads its budget share.
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(dry_run=False, status__in=["planned", "running"]),
                name="backfill_one_active_per_tenant",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="backfill_tenant_status")]

    def __str__(self):
        kind = "dry run" if self.dry_run else "backfill"
        return f"{kind} since {self.since:%Y-%m-%d} ({self.status})"


class DeadLetter(SyncJob):
    """Jobs that exhausted their retries: listed, replayed or discarded by operators."""

    class Meta:
        proxy = True


class CrossReference(TenantOwned):
    """Source record ↔ Xero record, with the version and payload last synced (exactly-once effect)."""

    # Every index of this table leads with the tenant (Meta): one of the tenant alone would only be written to, and
    # the planner, taking a new tenant for a few rows, chose it over the unique key to look up one record.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    entity = models.CharField(max_length=20)
    source_id = models.CharField(max_length=128)
    xero_id = models.CharField(max_length=64)
    xero_number = models.CharField(max_length=100, blank=True)
    source_version = models.CharField(max_length=64)
    payload_hash = models.CharField(max_length=64)
    # Per side ("xero", "source"), the field-group values it held at the last sync: a side whose values differ now
    # has changed since, and both having changed is a conflict (sync.services.conflicts).
    synced_values = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_connection", "entity", "source_id"], name="cross_reference_unique_record"
            )
        ]
        indexes = [models.Index(fields=["tenant", "entity", "xero_id"], name="cross_reference_xero")]

    def __str__(self):
        return f"{self.entity}:{self.source_id} → {self.xero_id}"


class AuditEntry(TenantOwned):
    """An immutable record of one thing the engine did or decided, searchable by record, Xero id and time."""

    # Every index of this table leads with the tenant (Meta): one of the tenant alone would only be written to.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        MATCHED = "matched", "Matched existing"
        SKIPPED = "skipped", "Skipped (unchanged)"
        RETRY = "retry", "Will retry"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        DEAD = "dead", "Dead letter"
        REPLAYED = "replayed", "Replayed"
        DISCARDED = "discarded", "Discarded"
        SETTLED = "settled", "Conflict settled"

    job = models.ForeignKey(SyncJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entity = models.CharField(max_length=20)
    source_id = models.CharField(max_length=128)
    xero_id = models.CharField(max_length=64, blank=True)
    operation = models.CharField(max_length=30)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    # What was sent and Xero's answer: written once, with every record the drain sends, and read back whole or by a
    # path (request__Status), never searched (core.fields.JSONTextField).
    request = JSONTextField(null=True, blank=True)
    response = JSONTextField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "entity", "source_id"], name="audit_record"),
            models.Index(fields=["tenant", "xero_id"], name="audit_xero_id"),
            models.Index(fields=["tenant", "created_at"], name="audit_time"),
        ]

    def __str__(self):
        return f"{self.operation} {self.entity}:{self.source_id} {self.outcome}"


class DrainLease(TenantOwned):
    """At most one drain per Xero connection, across every qcluster host: whoever holds an unexpired lease."""

    xero_connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="+")
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"drain lease of {self.xero_connection_id} ({self.holder or 'free'})"


class SourceCursor(TenantOwned):
    """Where incremental polling of one entity of a source connection has got to (updated-at watermark)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    entity = models.CharField(max_length=20)
    watermark = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "connection", "entity"], name="source_cursor_unique_entity")
        ]

    def __str__(self):
        return f"{self.entity} of {self.connection_id} at {self.watermark}"


class WebhookStats(TenantOwned):
    """Per-connection webhook counters: rejected deliveries store nothing but this, and silence is noticed."""

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="+")
    received = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)
    last_received_at = models.DateTimeField(null=True, blank=True)
    last_rejected_at = models.DateTimeField(null=True, blank=True)
    last_rejection_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "webhook stats"

    def __str__(self):
        return f"webhooks of {self.connection_id}: {self.received} received, {self.rejected} rejected"


class QueuedInboxRun(TenantOwned):
    """A run over a connection's waiting inbox events is queued and has not started yet.

    While the row exists, new deliveries for the connection queue nothing more: one task then processes everything
    that arrived, instead of one task per delivery (sync.services.inbox.inbox_run_request). The run deletes the row
    as it starts; the sweeper requeues a run whose row has waited too long.
    """

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="+")

    def __str__(self):
        return f"inbox run of {self.connection_id} queued at {self.created_at}"


class Alert(TenantOwned):
    """An email sent to a tenant's admins about sync trouble. Every alert sent is recorded here."""

    class Kind(models.TextChoices):
        FIRST_FAILURE = "first_failure", "First failure"
        FAILURE_DIGEST = "failure_digest", "Failure digest"
        DEAD_LETTERS = "dead_letters", "Dead letters"
        DAY_LIMIT = "day_limit", "Xero day limit reached"
        WEBHOOK_SILENT = "webhook_silent", "Webhook source silent"
        RECONCILIATION = "reconciliation", "Reconciliation found differences"
        RECONCILIATION_FAILED = "reconcile_failed", "Scheduled reconciliation failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    subject = models.CharField(max_length=200)
    body = models.TextField()
    recipients = models.JSONField(default=list)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "kind", "-created_at"], name="alert_tenant_kind_time")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.subject}"


class WriteBack(TenantOwned):
    """One effect owed to a source or partner system because something changed in Xero (the way back).

    Kinds: the payment status of an invoice we created, written to its source order (a Magento comment and status,
    a Cin7 sale payment), and an outbound webhook to a partner system. A model of its own rather than a SyncJob
    operation: a SyncJob is a write *to* Xero, drained per Xero connection in batches of 50 and closed by a
    cross-reference; a write-back goes one at a time to another system and keeps a delivery log. What they share
    is the failure policy (sync.services.failures: the same backoff, dead letter and replay), written once.

    `key` makes a change owed once: the same invoice status reported twice (webhook and polling, a redelivery)
    finds the same row.
    """

    class Kind(models.TextChoices):
        ORDER_STATUS = "order_status", "Payment status to the source order"
        PARTNER_WEBHOOK = "partner_webhook", "Webhook to a partner system"
        STOCK_LEVEL = "stock_level", "Stock on hand to the source (Xero is the inventory master)"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DEAD = "dead", "Dead letter"
        DISCARDED = "discarded", "Discarded"

    # The system written to: the order's source connection, or the partner ("rest") connection.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # invoice.paid, invoice.part_paid, invoice.voided, contact.updated
    event = models.CharField(max_length=60)
    key = models.CharField(max_length=128)
    # The record the write-back is about: the source order id, or the Xero id for partner events.
    source_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField()

    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    cause = models.CharField(max_length=500, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "connection", "key"], name="write_back_key")]
        indexes = [
            models.Index(fields=["tenant", "connection", "state", "next_attempt_at"], name="write_back_due"),
            models.Index(fields=["tenant", "event", "source_id"], name="write_back_record"),
        ]

    def __str__(self):
        return f"{self.kind} {self.event} {self.source_id} ({self.state})"


class WriteBackAttempt(TenantOwned):
    """The delivery log: one row per attempt of a write-back, what the other side answered and how fast."""

    write_back = models.ForeignKey(WriteBack, on_delete=models.CASCADE, related_name="attempt_log", db_index=False)
    number = models.PositiveSmallIntegerField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    # The first characters of the answer (or the error), for the operator; never our own secrets.
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tenant", "write_back", "number"], name="write_back_attempt")]

    def __str__(self):
        return f"attempt {self.number} of {self.write_back_id}: {self.status_code or self.error[:40]}"
