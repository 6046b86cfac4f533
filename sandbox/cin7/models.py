"""A simulated Cin7 Core (DEAR) world: accounts, their records, and outbound webhook deliveries.

Records are stored as the exact JSON text Cin7 answers with (`body`), so a loaded example comes back byte for byte;
the columns beside it only exist to filter and page the way the real list endpoints do.
"""

from django.db import models

from core.models import TimeStampedModel


class Cin7Account(TimeStampedModel):
    """One Cin7 Core company, reached with its Account ID and one API Application key."""

    class LimitStatus(models.IntegerChoices):
        # The newer reference documents 429 for the 60 calls/minute limit; the older apiary blueprint says 503.
        TOO_MANY_REQUESTS = 429, "429 Too Many Requests"
        SERVICE_UNAVAILABLE = 503, "503 Service Unavailable (older blueprint)"

    name = models.CharField(max_length=100, unique=True)
    account_id = models.CharField(max_length=36, unique=True, help_text="api-auth-accountid (a GUID).")
    application_key = models.CharField(max_length=36, help_text="api-auth-applicationkey (a GUID).")
    base_currency = models.CharField(max_length=3, default="AUD")
    limit_status = models.PositiveSmallIntegerField(
        choices=LimitStatus.choices,
        default=LimitStatus.TOO_MANY_REQUESTS,
        help_text="Status answered when the 60 calls/minute limit is exceeded.",
    )

    def __str__(self):
        return f"{self.name} ({self.account_id})"


class Cin7Record(models.Model):
    """One native Cin7 record of an account, kept as the JSON text the API returns."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        SUPPLIER = "supplier", "Supplier"
        PRODUCT = "product", "Product"
        AVAILABILITY = "availability", "Product availability row"
        TAX_RULE = "tax_rule", "Tax rule"
        SALE = "sale", "Sale"
        PAYMENT = "payment", "Sale payment or refund (as /sale/payment lists it)"
        WEBHOOK = "webhook", "Webhook subscription"

    account = models.ForeignKey(Cin7Account, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # GUIDs compare case-insensitively in Cin7 (examples mix upper and lower case); `key` is the lower-cased ID.
    key = models.CharField(max_length=64)
    body = models.TextField(
        blank=True, help_text="The full record as JSON text; empty for a sale known by header only."
    )
    header = models.TextField(blank=True, help_text="Sales: the /saleList entry as JSON text.")
    credit_header = models.TextField(blank=True, help_text="Sales: the /saleCreditNoteList entry, when credited.")
    # A list entry loaded as-is wins over the one derived from the full sale, until the sale changes.
    header_loaded = models.BooleanField(default=False)
    credit_header_loaded = models.BooleanField(default=False)
    name = models.CharField(max_length=255, blank=True)
    search = models.TextField(blank=True, help_text="Lower-cased text the Search filter matches.")
    sku = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=40, blank=True)
    sale_key = models.CharField(max_length=64, blank=True, help_text="Payments: the sale they belong to.")
    modified_at = models.DateTimeField(null=True, blank=True)
    created_on = models.DateTimeField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True, help_text="Filterable attributes (statuses, flags).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "key"], name="cin7_record_unique_key"),
        ]
        indexes = [
            models.Index(fields=["account", "kind", "modified_at"], name="cin7_record_modified"),
            models.Index(fields=["account", "kind", "sale_key"], name="cin7_record_sale"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.key}"


class Cin7WebhookDelivery(TimeStampedModel):
    """One thin event payload on its way to a subscribed URL, with Cin7's retry schedule."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (the webhook was deactivated)"

    account = models.ForeignKey(Cin7Account, on_delete=models.CASCADE, related_name="webhook_deliveries")
    webhook_key = models.CharField(max_length=64)
    event_type = models.CharField(max_length=60)
    payload = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="cin7_delivery_due")]

    def __str__(self):
        return f"{self.event_type} -> {self.webhook_key} ({self.status})"
