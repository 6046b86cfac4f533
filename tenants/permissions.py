from rest_framework import permissions

from tenants.access import principal_from_request


class IsAgencyPrincipal(permissions.BasePermission):
    """A member of an agency or an API key; read-only keys may only read."""

    message = "This API key is read-only."

    def has_permission(self, request, view):
        principal = principal_from_request(request)
        if principal is None:
            if request.user is not None and getattr(request.user, "is_authenticated", False):
                self.message = "You are not a member of any agency."
            else:
                self.message = "Authentication credentials were not provided."
            return False
        return request.method in permissions.SAFE_METHODS or not principal.read_only


class IsAgencyAdmin(permissions.BasePermission):
    """Owners and admins signed in; API keys never manage members or keys."""

    message = "Only agency owners and admins can do this."

    def has_permission(self, request, view):
        principal = principal_from_request(request)
        return principal is not None and principal.is_admin
