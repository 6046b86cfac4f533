"""Reads for agencies and tenants, always through the principal asking."""

from core.errors import NotFoundError
from tenants.access import Principal
from tenants.models import ActivityEntry, ApiKey, Invitation, Membership, Tenant


def tenant_list(*, principal: Principal):
    return principal.tenants().order_by("name", "id")


def tenant_get(*, principal: Principal, tenant_id) -> Tenant:
    """The tenant if this principal may see it; another agency's tenant is a 404, exactly like a missing one."""
    try:
        return principal.tenants().get(pk=int(tenant_id))
    except (Tenant.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFoundError("Tenant not found.") from exc


def activity_list(*, tenant: Tenant):
    """The tenant's activity trail, newest first. Needs an active tenant scope."""
    return ActivityEntry.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def membership_list(*, principal: Principal):
    return Membership.objects.filter(agency=principal.agency).select_related("user").order_by("created_at", "id")


def invitation_list(*, principal: Principal):
    return Invitation.objects.filter(agency=principal.agency, accepted_at=None).order_by("-created_at", "-id")


def api_key_list(*, principal: Principal):
    return ApiKey.objects.filter(agency=principal.agency).order_by("-created_at", "-id")


def tenant_admin_emails(*, tenant: Tenant) -> list[str]:
    """Who hears about a tenant's problems: the active owners and admins of its agency."""
    return sorted(
        Membership.objects.filter(
            agency_id=tenant.agency_id,
            role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
            user__is_active=True,
        ).values_list("user__email", flat=True)
    )
