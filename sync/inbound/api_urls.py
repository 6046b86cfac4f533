"""Partner ingest API under /api/v1/tenants/{tenant_id}/ingest/…"""

from django.urls import path

from sync.inbound.api import ingest_view
from sync.inbound.serializers import ENTITIES

urlpatterns = [
    path(f"tenants/<int:tenant_id>/ingest/{entity}/", ingest_view(entity), name=f"ingest-{entity}")
    for entity in ENTITIES
]
