"""Who is asking, on behalf of which agency, and which tenants they may touch.

A principal is a signed-in user (through a membership) or an API key. Every API view and admin page asks the
principal, never the raw user, so the two kinds of caller share one set of rules.
"""

from dataclasses import dataclass

from tenants.models import Agency, ApiKey, Membership, Tenant


@dataclass(frozen=True)
class Principal:
    agency: Agency
    label: str
    role: str
    read_only: bool
    # None means every tenant of the agency.
    limited_tenant_ids: frozenset[int] | None
    membership: Membership | None = None
    api_key: ApiKey | None = None

    @property
    def is_admin(self) -> bool:
        """Owners and admins manage the agency: tenants, members, API keys."""
        return self.membership is not None and self.membership.is_admin

    @property
    def is_owner(self) -> bool:
        return self.membership is not None and self.membership.role == Membership.Role.OWNER

    @property
    def can_manage_tenants(self) -> bool:
        """Create and delete tenants: agency admins, and writable API keys not limited to some tenants."""
        if self.read_only:
            return False
        if self.api_key is not None:
            return self.limited_tenant_ids is None
        return self.is_admin

    def tenants(self):
        """The tenants this principal may see, as a queryset."""
        tenants = Tenant.objects.filter(agency=self.agency)
        if self.limited_tenant_ids is not None:
            tenants = tenants.filter(id__in=self.limited_tenant_ids)
        return tenants

    def tenant_ids(self) -> list[int]:
        return list(self.tenants().values_list("id", flat=True))


def principal_for_membership(membership: Membership) -> Principal:
    limited = None
    if not membership.is_admin:
        ids = frozenset(membership.limited_to_tenants.values_list("id", flat=True))
        limited = ids or None
    return Principal(
        agency=membership.agency,
        label=membership.user.email,
        role=membership.role,
        read_only=False,
        limited_tenant_ids=limited,
        membership=membership,
    )


def principal_for_api_key(api_key: ApiKey) -> Principal:
    ids = frozenset(api_key.limited_to_tenants.values_list("id", flat=True))
    return Principal(
        agency=api_key.agency,
        label=f"API key lb_{api_key.prefix}",
        role="api_key",
        read_only=api_key.read_only,
        limited_tenant_ids=ids or None,
        api_key=api_key,
    )


def principal_for_user(user, *, agency_id: int | None = None) -> Principal | None:
    """The user's principal in `agency_id`, or in their first agency; None when they belong to none."""
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("agency", "user").filter(user=user).order_by("created_at")
    if agency_id is not None:
        memberships = memberships.filter(agency_id=agency_id)
    membership = memberships.first()
    return principal_for_membership(membership) if membership else None


def principal_from_request(request) -> Principal | None:
    """Resolve (once per request) the principal of a DRF or Django request."""
    cached = getattr(request, "_ledgerbridge_principal", False)
    if cached is not False:
        return cached
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        principal = principal_for_api_key(auth)
    else:
        principal = principal_for_user(getattr(request, "user", None), agency_id=_session_agency(request))
    request._ledgerbridge_principal = principal
    return principal


def _session_agency(request) -> int | None:
    session = getattr(request, "session", None)
    return session.get("agency_id") if session is not None else None
