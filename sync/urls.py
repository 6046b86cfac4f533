"""Web pages of the sync engine: a tenant's historical migrations."""

from django.urls import path

from sync import views

app_name = "sync"

urlpatterns = [
    path("tenants/<int:tenant_id>/backfills/", views.backfills, name="backfills"),
    path("tenants/<int:tenant_id>/backfills/<int:pk>/", views.backfill_detail, name="backfill"),
    path("tenants/<int:tenant_id>/backfills/<int:pk>/cancel/", views.backfill_cancel, name="backfill_cancel"),
]
