"""Base views for tenant resources under /api/v1/tenants/{tenant_id}/…"""

from contextlib import ExitStack

from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied

from tenants.access import principal_from_request
from tenants.scoping import tenant_scope
from tenants.selectors import tenant_get


class AgencyViewMixin:
    """Gives views `self.principal`. Every API view declares `model`, the resource it serves."""

    model = None

    @property
    def principal(self):
        return principal_from_request(self.request)

    def require_admin(self, what: str) -> None:
        """Members who are not owners or admins may read but not change; `what` completes "Only agency owners and
        admins can …". API keys are governed by their own read-only flag, not by this."""
        principal = self.principal
        if principal.membership is not None and not principal.is_admin:
            raise PermissionDenied(f"Only agency owners and admins can {what}.")


class TenantScopedViewMixin(AgencyViewMixin):
    """Resolves the tenant from the URL for the principal (404 if not theirs) and holds its scope for the request."""

    tenant = None

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as stack:
            self._scope_stack = stack
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.tenant = tenant_get(principal=self.principal, tenant_id=kwargs.get("tenant_id"))
        self._scope_stack.enter_context(tenant_scope(self.tenant))


class TenantScopedViewSet(TenantScopedViewMixin, viewsets.GenericViewSet):
    pass


class AgencyViewSet(AgencyViewMixin, viewsets.GenericViewSet):
    pass
