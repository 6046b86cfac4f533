from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from connections import selectors, services
from connections.api.serializers import (
    CheckResultSerializer,
    ConnectionCreateSerializer,
    ConnectionDisconnectSerializer,
    ConnectionSerializer,
    ReferenceCountsSerializer,
    ReferenceSummarySerializer,
    XeroAuthorizeSerializer,
)
from connections.models import Connection
from connections.providers.xero import flow
from connections.providers.xero.reference import xero_reference_refresh_connection, xero_reference_summary
from core.api.serializers import EmptySerializer, no_input
from core.errors import ApplicationError
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

    @extend_schema(request=EmptySerializer, responses=XeroAuthorizeSerializer)
    @action(detail=False, methods=["post"], url_path="xero/authorize", serializer_class=EmptySerializer)
    def xero_authorize(self, request, tenant_id=None):
        """Start "Connect Xero" for a signed-in admin: open `authorize_url` in the same browser session.

        Xero sends the browser back to /connections/xero/callback/, which finishes in the web pages (choose the
        organisation). API keys cannot: the flow needs a person at Xero's consent page and this session.
        """
        no_input(request)
        if self.principal.api_key is not None or not self.principal.is_admin:
            raise PermissionDenied("Connecting Xero needs an agency owner or admin signed in to the web app.")
        url = flow.xero_authorization_start(session=request.session, tenant=self.tenant)
        return Response({"authorize_url": url})

    @extend_schema(request=EmptySerializer, responses=CheckResultSerializer)
    @action(detail=True, methods=["post"], serializer_class=EmptySerializer)
    def test(self, request, tenant_id=None, pk=None):
        """Make one cheap authenticated call through the connection and say whether it works."""
        from connections.views import connection_check

        no_input(request)
        connection = self.get_object()
        self._require_manager()
        return Response(connection_check(connection=connection))

    @extend_schema(request=EmptySerializer, responses=ReferenceCountsSerializer)
    @action(detail=True, methods=["post"], url_path="refresh-reference", serializer_class=EmptySerializer)
    def refresh_reference(self, request, tenant_id=None, pk=None):
        """Read the Xero organisation's settings again (tax rates, accounts, tracking, currencies, …); counts."""
        no_input(request)
        connection = self.get_object()
        self._require_manager()
        return Response(xero_reference_refresh_connection(connection=connection))

    @extend_schema(responses=ReferenceSummarySerializer)
    @action(detail=True, methods=["get"])
    def reference(self, request, tenant_id=None, pk=None):
        """The cached Xero settings for mapping screens: tax rates, accounts, tracking with options, currencies."""
        connection = self.get_object()
        if connection.provider != "xero":
            raise ApplicationError("Only Xero connections have Xero settings.", code="not_xero")
        return Response(ReferenceSummarySerializer(xero_reference_summary(connection=connection)).data)
