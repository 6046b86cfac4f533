from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views


class Router(SimpleRouter):
    """Path converters instead of regexes: ids are integers, anything else is a 404 before any view runs."""

    def __init__(self):
        super().__init__(trailing_slash=True, use_regex_path=False)

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        return f"<int:{lookup_prefix}pk>"


router = Router()
router.register("tenants", views.TenantViewSet, basename="tenant")
router.register("tenants/<int:tenant_id>/activity", views.ActivityViewSet, basename="tenant-activity")
router.register("members", views.MemberViewSet, basename="member")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")

urlpatterns = [path("agency/", views.AgencyView.as_view(), name="agency"), *router.urls]
