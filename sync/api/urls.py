"""Operator API under /api/v1/tenants/{tenant_id}/: jobs, needs attention, dead letters, the audit trail,
backfills, write-backs to sources and partners (with their delivery log) and partner webhook endpoints."""

from sync.api import views
from tenants.api.urls import Router

router = Router()
router.register("tenants/<int:tenant_id>/jobs", views.SyncJobViewSet, basename="tenant-jobs")
router.register("tenants/<int:tenant_id>/dead-letters", views.DeadLetterViewSet, basename="tenant-dead-letters")
router.register("tenants/<int:tenant_id>/audit", views.AuditEntryViewSet, basename="tenant-audit")
router.register("tenants/<int:tenant_id>/backfills", views.BackfillViewSet, basename="tenant-backfills")
router.register("tenants/<int:tenant_id>/write-backs", views.WriteBackViewSet, basename="tenant-write-backs")
router.register(
    "tenants/<int:tenant_id>/partner-webhooks", views.PartnerWebhookEndpointViewSet, basename="tenant-partner-webhooks"
)

urlpatterns = router.urls
