"""Shared state of the simulated world: fault profiles and rate-limit counters.

Each simulator (sandbox.xero, sandbox.magento, sandbox.cin7, sandbox.gorgias) keeps its own records in its own
app; what is common to all of them lives here. State is in the database so web and worker processes share it.
"""

from django.db import models


class System(models.TextChoices):
    XERO = "xero", "Xero"
    MAGENTO = "magento", "Magento 2"
    CIN7 = "cin7", "Cin7 Core"
    GORGIAS = "gorgias", "Gorgias"


class FaultProfile(models.Model):
    """Faults to inject into one simulated account's API (an account is a Xero tenantId, a Magento store code, …).

    Decisions are drawn from a seeded sequence, so a chaos run with the same seed sees the same faults in the
    same order of requests.
    """

    system = models.CharField(max_length=10, choices=System.choices)
    account = models.CharField(max_length=100)
    error_rate = models.FloatField(default=0.0, help_text="Share of requests answered with a 5xx.")
    throttle_rate = models.FloatField(default=0.0, help_text="Share of requests answered with an extra 429.")
    drop_rate = models.FloatField(
        default=0.0, help_text="Share of writes applied and then answered with nothing (the caller times out)."
    )
    latency_ms = models.PositiveIntegerField(default=0)
    outage_until = models.DateTimeField(null=True, blank=True, help_text="Every request fails with 503 until then.")
    rate_limits_enabled = models.BooleanField(default=True, help_text="The system's own rate limits (as the real one).")
    seed = models.BigIntegerField(default=0)
    requests_seen = models.BigIntegerField(default=0)
    faults_injected = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "account"], name="fault_profile_unique_account")]

    def __str__(self):
        return f"{self.system}:{self.account}"


class RateCounter(models.Model):
    """A fixed-window request counter for one simulated account and limit (for example Xero's minute limit)."""

    system = models.CharField(max_length=10, choices=System.choices)
    account = models.CharField(max_length=100)
    bucket = models.CharField(max_length=40)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "account", "bucket"], name="rate_counter_unique_bucket")
        ]

    def __str__(self):
        return f"{self.system}:{self.account}:{self.bucket}={self.count}"


class PartnerReceiver(models.Model):
    """A partner system's webhook receiver (sandbox.partner): records every delivery, fails when told to."""

    name = models.CharField(max_length=100, unique=True)
    fail_next = models.PositiveIntegerField(default=0, help_text="Answer this many next deliveries with fail_status.")
    fail_status = models.PositiveSmallIntegerField(default=503)
    drop_next = models.PositiveIntegerField(
        default=0, help_text="Take this many next deliveries and never answer (the sender times out)."
    )

    def __str__(self):
        return f"partner receiver {self.name}"


class PartnerDelivery(models.Model):
    """One webhook delivery a simulated partner received, exactly as it came: headers and raw body."""

    receiver = models.ForeignKey(PartnerReceiver, on_delete=models.CASCADE, related_name="deliveries")
    headers = models.JSONField()
    body = models.BinaryField()
    answered = models.PositiveSmallIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"delivery {self.pk} to {self.receiver_id} ({self.answered})"
