"""A simulated Gorgias helpdesk: accounts (one per domain), customers, tickets, messages, integrations and
outbound HTTP-integration requests. Records are stored as the exact JSON text the API answers with."""

from django.db import models

from core.models import TimeStampedModel


class GorgiasAccount(TimeStampedModel):
    """One helpdesk, `https://{domain}.gorgias.com`, reached with HTTP Basic email:api_key."""

    domain = models.SlugField(max_length=63, unique=True)
    email = models.EmailField()
    api_key = models.CharField(max_length=64)
    # Leaky bucket of the API key: level now, and when it was last computed (it leaks 2 calls a second).
    bucket_level = models.FloatField(default=0.0)
    bucket_updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.domain


class GorgiasRecord(models.Model):
    """A customer, ticket, message or integration of one helpdesk, kept as JSON text."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        TICKET = "ticket", "Ticket"
        MESSAGE = "message", "Ticket message"
        INTEGRATION = "integration", "Integration"

    account = models.ForeignKey(GorgiasAccount, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    record_id = models.BigIntegerField()
    body = models.TextField()
    email = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    parent_id = models.BigIntegerField(null=True, blank=True, help_text="Tickets: customer id; messages: ticket id.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "record_id"], name="gorgias_record_unique_id"),
        ]
        indexes = [
            models.Index(fields=["account", "kind", "created_at", "record_id"], name="gorgias_record_created"),
            models.Index(fields=["account", "kind", "updated_at", "record_id"], name="gorgias_record_updated"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.record_id}"


class GorgiasWebhookDelivery(TimeStampedModel):
    """One rendered HTTP-integration request fired by a ticket event, with its retries."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(GorgiasAccount, on_delete=models.CASCADE, related_name="webhook_deliveries")
    integration_id = models.BigIntegerField()
    event = models.CharField(max_length=40)
    method = models.CharField(max_length=10, default="POST")
    url = models.URLField(max_length=2000)
    headers = models.JSONField(default=dict)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="gorgias_delivery_due")]

    def __str__(self):
        return f"{self.event} -> {self.url} ({self.status})"
