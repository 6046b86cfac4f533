from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from connections import selectors, services
from connections.api.serializers import (
    ConnectionCreateSerializer,
    ConnectionDisconnectSerializer,
    ConnectionSerializer,
)
from connections.models import Connection
from tenants.api.base import TenantScopedViewSet


class ConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """A tenant's connections to external systems. Secrets go in, never out."""

    model = Connection
    serializer_class = ConnectionCreateSerializer

    def get_serializer_class(self):
        return ConnectionSerializer if self.action in ("list", "retrieve") else ConnectionCreateSerializer

    def get_queryset(self):
        return selectors.connection_list(tenant=self.tenant)

    def get_object(self):
        return selectors.connection_get(tenant=self.tenant, id=self.kwargs["pk"])

    def _require_manager(self):
        # Owners, admins and writable API keys connect and disconnect systems; members only look.
        principal = self.principal
        if principal.api_key is None and not principal.is_admin:
            raise PermissionDenied("Only agency owners and admins can connect or disconnect systems.")

    @extend_schema(request=ConnectionCreateSerializer, responses={201: ConnectionSerializer})
    def create(self, request, tenant_id=None):
        self._require_manager()
        serializer = ConnectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        connection = services.connection_create(
            tenant=self.tenant,
            provider_id=data["provider"],
            display_name=data["display_name"],
            credentials=data.get("credentials") or None,
            account=data.get("account"),
            webhook_secret=data.get("webhook_secret") or None,
            actor=self.principal.label,
        )
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConnectionDisconnectSerializer, responses=ConnectionSerializer)
    @action(detail=True, methods=["post"], serializer_class=ConnectionDisconnectSerializer)
    def disconnect(self, request, tenant_id=None, pk=None):
        connection = self.get_object()
        self._require_manager()
        serializer = ConnectionDisconnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data.get("reason") or f"Disconnected by {self.principal.label}."
        services.connection_disconnect(connection=connection, reason=reason, actor=self.principal.label)
        connection.refresh_from_db()
        return Response(ConnectionSerializer(connection).data)
