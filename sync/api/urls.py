"""Operator API under /api/v1/tenants/{tenant_id}/…: jobs, dead letters, needs attention, audit trail."""

urlpatterns = []
