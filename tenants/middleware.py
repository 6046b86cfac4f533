from tenants.access import principal_for_user
from tenants.scoping import all_tenants, tenant_scope


class AdminScopeMiddleware:
    """Holds a tenant scope around every Django admin request, rendering included.

    Superusers work across tenants; an agency member's scope is the tenants they may see. Other pages and the API
    scope themselves, per tenant, in their views.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_superuser:
            # Platform operators see every tenant in admin.
            with all_tenants():
                return self.get_response(request)
        principal = principal_for_user(user, agency_id=request.session.get("agency_id"))
        with tenant_scope(principal.tenant_ids() if principal else []):
            return self.get_response(request)
