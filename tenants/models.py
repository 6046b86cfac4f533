import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from core.models import TimeStampedModel


class EmailUserManager(UserManager):
    """Users log in by email; there is no username."""

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = EmailUserManager()

    def __str__(self):
        return self.email


class Agency(TimeStampedModel):
    """The paying account: an agency that onboards many client organisations."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]

    def __str__(self):
        return self.name


currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code, for example AUD.")
country_code = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO 3166 code, for example AU.")


class Tenant(TimeStampedModel):
    """One client organisation of an agency: the unit every synced record belongs to."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="tenants")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60)
    country = models.CharField(max_length=2, validators=[country_code])
    base_currency = models.CharField(max_length=3, validators=[currency_code])
    timezone = models.CharField(max_length=64, default="UTC")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "slug"], name="tenant_slug_unique_in_agency"),
        ]

    def __str__(self):
        return self.name


class TenantOwned(TimeStampedModel):
    """Base of every tenant-owned row.

    The tenant key is never null, and subclasses lead their indexes and unique constraints with it, so the schema
    stays shardable by tenant. The default manager fails closed: querying without an active tenant scope raises.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = ScopedManager(tenant="tenant")

    class Meta:
        abstract = True


class Membership(TimeStampedModel):
    """A user's place in an agency, with a role. A member can be limited to some tenants."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Empty means every tenant of the agency; otherwise only these (for role "member").
    limited_to_tenants = models.ManyToManyField(Tenant, blank=True, related_name="+")

    class Meta:
        ordering = ["agency", "user__email"]
        constraints = [models.UniqueConstraint(fields=["agency", "user"], name="membership_unique_user_in_agency")]

    def __str__(self):
        return f"{self.user} ({self.role}) in {self.agency}"

    @property
    def is_admin(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


def _hash_secret(secret: str) -> str:
    # Secrets here are 32+ random bytes, so one SHA-256 is enough; slow hashes are for human passwords.
    return hashlib.sha256(secret.encode()).hexdigest()


class Invitation(TimeStampedModel):
    """An emailed sign-up link that makes its recipient a member of an agency."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    limited_to_tenants = models.ManyToManyField(Tenant, blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "email"], condition=models.Q(accepted_at=None), name="invitation_one_open_per_email"
            )
        ]

    def __str__(self):
        return f"{self.email} → {self.agency}"

    @staticmethod
    def hash_token(token: str) -> str:
        return _hash_secret(token)

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class ApiKey(TimeStampedModel):
    """An agency's API key. Only its prefix and hash are stored; the secret is shown once, at creation."""

    PREFIX_LENGTH = 8

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    read_only = models.BooleanField(default=False)
    # Empty means every tenant of the agency.
    limited_to_tenants = models.ManyToManyField(Tenant, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} (lb_{self.prefix}_…)"

    @staticmethod
    def generate() -> tuple[str, str]:
        """A new (prefix, full key) pair. The full key is `lb_<prefix>_<secret>`."""
        prefix = secrets.token_hex(ApiKey.PREFIX_LENGTH // 2)
        return prefix, f"lb_{prefix}_{secrets.token_urlsafe(32)}"

    @staticmethod
    def hash_key(full_key: str) -> str:
        return _hash_secret(full_key)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ActivityEntry(TenantOwned):
    """An immutable line in a tenant's activity trail: who changed what, with the values before and after."""

    actor = models.CharField(max_length=200, help_text="The user's email, or 'API key lb_<prefix>', or 'system'.")
    action = models.CharField(max_length=60)
    subject = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "activity entries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="activity_tenant_time")]

    def __str__(self):
        return f"{self.actor}: {self.action} {self.subject}"
