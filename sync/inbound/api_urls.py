"""Partner ingest API under /api/v1/tenants/{tenant_id}/ingest/…"""

urlpatterns = []
