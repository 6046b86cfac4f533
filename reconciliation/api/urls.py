"""Reconciliation API under /api/v1/tenants/{tenant_id}/reconciliations/…"""

from reconciliation.api import views
from tenants.api.urls import Router

router = Router()
router.register(
    "tenants/<int:tenant_id>/reconciliations", views.ReconciliationViewSet, basename="tenant-reconciliations"
)

urlpatterns = router.urls
