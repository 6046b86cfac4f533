"""Connection endpoints under /api/v1/tenants/{tenant_id}/connections/…"""

urlpatterns = []
