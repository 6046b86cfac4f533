"""Writes for agencies, tenants, members, invitations and API keys."""

from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from core.errors import ApplicationError, PermissionDeniedError
from tenants.models import ActivityEntry, Agency, ApiKey, Invitation, Membership, Tenant, User

INVITATION_LIFETIME = timedelta(days=7)
# last_used_at is informational; writing it on every request would make every API call a write.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _unique_slug(base: str, taken) -> str:
    root = slugify(base)[:50] or "org"
    slug, n = root, 2
    while taken(slug):
        slug, n = f"{root}-{n}", n + 1
    return slug


def activity_record(*, tenant: Tenant, actor: str, action: str, subject: str, before=None, after=None):
    """Append a line to the tenant's activity trail."""
    return ActivityEntry.objects.create(
        tenant=tenant, actor=actor, action=action, subject=subject, before=before, after=after
    )


def _sync_staff_flag(user: User) -> None:
    # Agency owners and admins use Django admin as their console; members do not.
    is_admin_somewhere = user.memberships.filter(role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]).exists()
    staff = user.is_superuser or is_admin_somewhere
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


@transaction.atomic
def agency_create_with_owner(*, name: str, owner: User) -> Agency:
    """Create an agency owned by `owner` (sign-up does this)."""
    agency = Agency.objects.create(name=name, slug=_unique_slug(name, lambda s: Agency.objects.filter(slug=s).exists()))
    Membership.objects.create(agency=agency, user=owner, role=Membership.Role.OWNER)
    _sync_staff_flag(owner)
    return agency


def agency_update(*, agency: Agency, name: str) -> Agency:
    agency.name = name
    agency.save(update_fields=["name", "updated_at"])
    return agency


TENANT_FIELDS = ("name", "slug", "country", "base_currency", "timezone", "is_active")


def _tenant_values(tenant: Tenant) -> dict:
    return {field: getattr(tenant, field) for field in TENANT_FIELDS}


def tenant_create(
    *,
    agency: Agency,
    actor: str,
    name: str,
    country: str,
    base_currency: str,
    slug: str = "",
    timezone_name: str = "UTC",
    is_active: bool = True,
) -> Tenant:
    """Add a client organisation to an agency. The slug is derived from the name when not given."""
    taken = lambda s: Tenant.objects.filter(agency=agency, slug=s).exists()  # noqa: E731
    if slug and taken(slug):
        raise ApplicationError(f"The slug '{slug}' is already used in this agency.", code="slug_taken")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                agency=agency,
                name=name,
                slug=slug or _unique_slug(name, taken),
                country=country.upper(),
                base_currency=base_currency.upper(),
                timezone=timezone_name,
                is_active=is_active,
            )
            activity_record(
                tenant=tenant, actor=actor, action="tenant.created", subject=tenant.name, after=_tenant_values(tenant)
            )
    except IntegrityError as exc:
        raise ApplicationError("That slug is already used in this agency.", code="slug_taken") from exc
    return tenant


def tenant_update(*, tenant: Tenant, actor: str, **changes) -> Tenant:
    """Change a tenant's settings; the change is recorded with the values before and after."""
    before = _tenant_values(tenant)
    if "timezone_name" in changes:
        changes["timezone"] = changes.pop("timezone_name")
    for field, value in changes.items():
        if field not in TENANT_FIELDS:
            raise ApplicationError(f"'{field}' cannot be changed.", code="invalid")
        setattr(tenant, field, value.upper() if field in ("country", "base_currency") else value)
    try:
        with transaction.atomic():
            tenant.save()
            after = _tenant_values(tenant)
            if after != before:
                activity_record(
                    tenant=tenant, actor=actor, action="tenant.updated", subject=tenant.name, before=before, after=after
                )
    except IntegrityError as exc:
        raise ApplicationError("That slug is already used in this agency.", code="slug_taken") from exc
    return tenant


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant and everything it owns."""
    tenant.delete()


@transaction.atomic
def member_invite(*, agency: Agency, email: str, role: str, tenants=(), invited_by: User | None) -> Invitation:
    """Invite someone by email; they get a sign-up link that makes them a member."""
    email = email.strip().lower()
    if Membership.objects.filter(agency=agency, user__email__iexact=email).exists():
        raise ApplicationError(f"{email} is already a member of this agency.", code="already_member")
    # A fresh invitation replaces an open one for the same address.
    Invitation.objects.filter(agency=agency, email=email, accepted_at=None).delete()
    token = ApiKey.generate()[1]
    invitation = Invitation.objects.create(
        agency=agency,
        email=email,
        role=role,
        token_hash=Invitation.hash_token(token),
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    invitation.limited_to_tenants.set(tenants)
    link = settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[token])
    context = {"agency": agency, "invitation": invitation, "link": link, "invited_by": invited_by}
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {agency.name} on Ledgerbridge",
            message=render_to_string("emails/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation


def invitation_get_open(*, token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("agency").filter(token_hash=Invitation.hash_token(token)).first()
    return invitation if invitation and invitation.is_open else None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Make `user` a member as the invitation says. The signed-in email must be the invited one."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise ApplicationError("This invitation has expired or was already used.", code="invitation_closed")
    if user.email.lower() != invitation.email.lower():
        raise PermissionDeniedError(f"This invitation is for {invitation.email}.")
    membership, _ = Membership.objects.get_or_create(
        agency=invitation.agency, user=user, defaults={"role": invitation.role}
    )
    membership.limited_to_tenants.set(invitation.limited_to_tenants.all())
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at", "updated_at"])
    _sync_staff_flag(user)
    return membership


def _owners_left_after(membership: Membership) -> int:
    return (
        Membership.objects.filter(agency=membership.agency, role=Membership.Role.OWNER)
        .exclude(pk=membership.pk)
        .count()
    )


@transaction.atomic
def membership_change(*, membership: Membership, by: Membership, role: str | None = None, tenants=None):
    """Change a member's role and/or tenant limits. Only owners grant or take away ownership."""
    if role is not None and role != membership.role:
        touches_owner = Membership.Role.OWNER in (role, membership.role)
        if touches_owner and by.role != Membership.Role.OWNER:
            raise PermissionDeniedError("Only an owner can grant or remove the owner role.")
        if membership.role == Membership.Role.OWNER and _owners_left_after(membership) == 0:
            raise ApplicationError("An agency needs at least one owner.", code="last_owner")
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    if tenants is not None:
        membership.limited_to_tenants.set(tenants)
    _sync_staff_flag(membership.user)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, by: Membership) -> None:
    """Remove a member from the agency; the last owner cannot be removed."""
    if membership.role == Membership.Role.OWNER:
        if by.role != Membership.Role.OWNER:
            raise PermissionDeniedError("Only an owner can remove an owner.")
        if _owners_left_after(membership) == 0:
            raise ApplicationError("An agency needs at least one owner.", code="last_owner")
    user = membership.user
    membership.delete()
    _sync_staff_flag(user)


@transaction.atomic
def api_key_create(
    *, agency: Agency, name: str, read_only: bool = False, tenants=(), created_by: User | None = None
) -> tuple[ApiKey, str]:
    """Create an API key. Returns the key row and the full secret, which is never stored or shown again."""
    prefix, full_key = ApiKey.generate()
    api_key = ApiKey.objects.create(
        agency=agency,
        name=name,
        prefix=prefix,
        secret_hash=ApiKey.hash_key(full_key),
        read_only=read_only,
        created_by=created_by,
    )
    api_key.limited_to_tenants.set(tenants)
    return api_key, full_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once; requests with it are refused from now on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def api_key_authenticate(*, full_key: str) -> ApiKey | None:
    """The active key matching `full_key`, or None. Records when it was last used."""
    parts = full_key.split("_")
    if len(parts) < 3 or parts[0] != "lb" or len(parts[1]) != ApiKey.PREFIX_LENGTH:
        return None
    api_key = ApiKey.objects.select_related("agency").filter(prefix=parts[1], revoked_at=None).first()
    if api_key is None:
        return None
    import hmac

    if not hmac.compare_digest(api_key.secret_hash, ApiKey.hash_key(full_key)):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
