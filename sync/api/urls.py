"""Operator API under /api/v1/tenants/{tenant_id}/: jobs, needs attention, dead letters, the audit trail, backfills."""

from sync.api import views
from tenants.api.urls import Router

router = Router()
router.register("tenants/<int:tenant_id>/jobs", views.SyncJobViewSet, basename="tenant-jobs")
router.register("tenants/<int:tenant_id>/dead-letters", views.DeadLetterViewSet, basename="tenant-dead-letters")
router.register("tenants/<int:tenant_id>/audit", views.AuditEntryViewSet, basename="tenant-audit")
router.register("tenants/<int:tenant_id>/backfills", views.BackfillViewSet, basename="tenant-backfills")

urlpatterns = router.urls
