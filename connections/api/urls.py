"""Connection endpoints under /api/v1/tenants/{tenant_id}/connections/…"""

from connections.api import views
from tenants.api.urls import Router

router = Router()
router.register("tenants/<int:tenant_id>/connections", views.ConnectionViewSet, basename="tenant-connection")

urlpatterns = router.urls
