"""Operational state of the simulator: remembered idempotent answers and queued webhook deliveries."""

from django.db import models
from django.utils import timezone

from sandbox.xero.models.accounting import simulated_reference
from sandbox.xero.models.auth import Organisation, XeroApp


class IdempotentResponse(models.Model):
    """The first answer to a request made with an Idempotency-Key; replayed for the same key for 6 minutes."""

    org = simulated_reference(Organisation, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path, query and body")
    status = models.PositiveSmallIntegerField()
    body = models.BinaryField()
    content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="sandbox_xero_idempotency_unique")]

    def __str__(self):
        return str(self.pk)


class WebhookDelivery(models.Model):
    """One signed POST to an app's webhook URL, with its attempts (Xero retries with decreasing frequency)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after the retry window

    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE, related_name="deliveries")
    events = models.JSONField(default=list)
    # Frozen at the first attempt: a retry sends the very same bytes and signature.
    body = models.BinaryField(null=True, blank=True)
    signature = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return str(self.pk)
