from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter(trailing_slash=True)
router.register("tenants", views.TenantViewSet, basename="tenant")
router.register(r"tenants/(?P<tenant_id>[^/.]+)/activity", views.ActivityViewSet, basename="tenant-activity")
router.register("members", views.MemberViewSet, basename="member")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")

urlpatterns = [path("agency/", views.AgencyView.as_view(), name="agency"), *router.urls]
