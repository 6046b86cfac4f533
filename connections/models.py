import secrets

from django.db import models

from tenants.models import TenantOwned


def new_webhook_token() -> str:
    # 32 random bytes: unguessable, and short enough for a URL segment.
    return secrets.token_urlsafe(32)


class Connection(TenantOwned):
    """A tenant's link to one account of an external system (its Xero organisation, a Magento store, …).

    Credentials and the provider's webhook signing secret are stored only as ciphertext bound to this row
    (see connections.crypto); nothing on the model decrypts them.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
        DISCONNECTED = "disconnected", "Disconnected"

    provider = models.CharField(max_length=40, help_text="Provider id from connections.providers.registry.")
    display_name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    # Xero tenantId; Magento "<host>/<store code>"; Cin7 account id; Gorgias domain. Not secret.
    external_account_id = models.CharField(max_length=255, blank=True)
    # Root of the provider's API for this account (Magento store URL, Gorgias domain, …).
    base_url = models.URLField(max_length=500, blank=True)

    credentials_ciphertext = models.TextField(blank=True, editable=False)
    webhook_secret_ciphertext = models.TextField(blank=True, editable=False)
    # Routes /webhooks/<provider>/<token>/ to this connection.
    # Globally unique on purpose (the URL names no tenant); 256 random bits, so it never collides across shards.
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token, editable=False)

    last_activity_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Set once the idle warning went out for the current idle period; cleared by new activity.
    idle_warning_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Rate budget, shared by every worker (connections.ratelimit).
    blocked_until = models.DateTimeField(null=True, blank=True)
    minute_remaining = models.IntegerField(null=True, blank=True)
    day_remaining = models.IntegerField(null=True, blank=True)
    day_limit_reset_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider", "external_account_id"],
                condition=~models.Q(status="disconnected") & ~models.Q(external_account_id=""),
                name="connection_one_live_per_account",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "active", "needs_reauth", "disconnected"]),
                name="connection_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "provider", "status"], name="connection_tenant_provider"),
            models.Index(fields=["tenant", "status", "last_activity_at"], name="connection_tenant_activity"),
        ]

    def __str__(self):
        return f"{self.display_name} ({self.provider})"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_ciphertext)

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_ciphertext)


class ConnectionDailyUsage(TenantOwned):
    """External calls made through one connection on one UTC day."""

    # Indexed through (tenant, connection, day): every index leads with the tenant.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="daily_usage", db_index=False)
    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "connection daily usage"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "connection", "day"], name="connection_usage_one_per_day"),
        ]

    def __str__(self):
        return f"{self.connection_id} {self.day}: {self.calls}"


class ConnectionCallSlot(TenantOwned):
    """One granted external call, for the shared rate limiter.

    Rows started within the rolling window count against the rate; rows not finished and still leased are in
    flight. The lease frees a slot whose worker died without releasing it.
    """

    # Indexed through (tenant, connection, started_at): every index leads with the tenant.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    started_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "connection", "started_at"], name="callslot_tenant_conn_start"),
        ]

    def __str__(self):
        return f"{self.connection_id} @ {self.started_at:%H:%M:%S.%f}"


class XeroReferenceData(TenantOwned):
    """The tenant's own Xero settings, cached per connection: what mappings are chosen from and checked against.

    `data` is exactly what Xero returned (the Organisation object, or the list of TaxRates, Accounts, …), so a
    check made here is the check Xero would make.
    """

    class Kind(models.TextChoices):
        ORGANISATION = "organisation", "Organisation"
        TAX_RATES = "tax_rates", "Tax rates"
        ACCOUNTS = "accounts", "Chart of accounts"
        TRACKING_CATEGORIES = "tracking_categories", "Tracking categories"
        CURRENCIES = "currencies", "Currencies"
        ITEMS = "items", "Items"
        CONTACT_GROUPS = "contact_groups", "Contact groups"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    data = models.JSONField()
    fetched_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "Xero reference data"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "connection", "kind"], name="xero_reference_unique_kind")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of connection {self.connection_id}"


class PartnerWebhookEndpoint(TenantOwned):
    """Where a partner ("rest") connection wants our events: its URL, the events it takes, and the signing secret.

    The secret is ours (generated at creation, shown once), stored only as ciphertext bound to the connection
    (connections.crypto, purpose "partner_webhook_secret") and never shown, serialised or logged again: the
    partner verifies our HMAC-SHA256 signature with it (recipe in the README, "Outbound partner webhooks").
    """

    class Event(models.TextChoices):
        INVOICE_PAID = "invoice.paid", "Invoice paid"
        INVOICE_PART_PAID = "invoice.part_paid", "Invoice partly paid"
        INVOICE_VOIDED = "invoice.voided", "Invoice voided"
        CONTACT_UPDATED = "contact.updated", "Contact created or updated in Xero"

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="partner_webhook")
    url = models.URLField(max_length=500)
    # Subscribed event names (Event values); events not listed are not sent.
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    secret_ciphertext = models.TextField(blank=True, editable=False)

    def __str__(self):
        return f"webhooks of {self.connection_id} → {self.url}"
