"""The identity side of the simulated Xero: developer apps, organisations, consents, tokens and connections."""

import uuid

from django.db import models


class Country(models.TextChoices):
    AU = "AU", "Australia"
    GB = "GB", "United Kingdom"
    US = "US", "United States"
    NZ = "NZ", "New Zealand"


class XeroApp(models.Model):
    """A developer app registered at developer.xero.com: credentials, redirect URIs and its webhook."""

    name = models.CharField(max_length=100, unique=True)
    client_id = models.CharField(max_length=32, unique=True)
    client_secret = models.CharField(max_length=64)
    webhook_key = models.CharField(max_length=100)
    redirect_uris = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    # Set when the delivery URL passed the intent-to-receive check; events are only delivered to an enabled hook.
    webhook_enabled = models.BooleanField(default=False)
    last_event_sequence = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Organisation(models.Model):
    """One Xero organisation (a tenant in Xero's API vocabulary)."""

    tenant_id = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=255, unique=True)
    country = models.CharField(max_length=2, choices=Country.choices, default=Country.AU)
    base_currency = models.CharField(max_length=3)
    short_code = models.CharField(max_length=10, unique=True)
    timezone = models.CharField(max_length=60)
    # Counters for Xero's auto-numbering (INV-0001, CN-0001).
    invoice_sequence = models.PositiveIntegerField(default=0)
    credit_note_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Grant(models.Model):
    """One user's consent to one app: the token family. Tokens are per user per app, not per connection."""

    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE, related_name="grants")
    auth_event_id = models.UUIDField(default=uuid.uuid4, unique=True)
    scope = models.CharField(max_length=1000)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.app}:{self.auth_event_id}"


class AuthorizationCode(models.Model):
    """A one-time code handed to the redirect URI; exchanged once (PKCE-checked) for a token set."""

    code = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(XeroApp, on_delete=models.CASCADE)
    organisations = models.ManyToManyField(Organisation)
    redirect_uri = models.CharField(max_length=500)
    scope = models.CharField(max_length=1000)
    code_challenge = models.CharField(max_length=128, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self):
        return str(self.pk)


class AccessToken(models.Model):
    token = models.CharField(max_length=128, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="access_tokens")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return str(self.pk)


class RefreshToken(models.Model):
    """A refresh token. Using it rotates it: the successor is issued, the old one stays usable for a grace period."""

    token = models.CharField(max_length=128, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")
    issued_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    successor = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return str(self.pk)


class Connection(models.Model):
    """An organisation authorised for a grant (what GET /connections lists)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="connections")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="connections")
    auth_event_id = models.UUIDField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grant", "organisation"], name="sandbox_xero_connection_unique_org")
        ]

    def __str__(self):
        return str(self.pk)
