from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from tenants import selectors, services
from tenants.api.base import AgencyViewMixin, AgencyViewSet, TenantScopedViewSet
from tenants.api.serializers import (
    ActivityEntrySerializer,
    AgencySerializer,
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    InvitationSerializer,
    MembershipChangeSerializer,
    MembershipSerializer,
    TenantSerializer,
)
from tenants.models import ActivityEntry, Agency, ApiKey, Invitation, Membership, Tenant
from tenants.permissions import IsAgencyAdmin, IsAgencyPrincipal


class AgencyView(AgencyViewMixin, APIView):
    """The caller's agency."""

    model = Agency
    serializer_class = AgencySerializer

    @extend_schema(responses=AgencySerializer)
    def get(self, request):
        return Response(AgencySerializer(self.principal.agency).data)

    @extend_schema(request=AgencySerializer, responses=AgencySerializer)
    def patch(self, request):
        if not self.principal.is_admin:
            raise PermissionDenied("Only agency owners and admins can rename the agency.")
        serializer = AgencySerializer(self.principal.agency, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        agency = services.agency_update(agency=self.principal.agency, **serializer.validated_data)
        return Response(AgencySerializer(agency).data)


class TenantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    AgencyViewSet,
):
    """The agency's client organisations."""

    model = Tenant
    serializer_class = TenantSerializer

    def get_queryset(self):
        return selectors.tenant_list(principal=self.principal)

    def get_object(self):
        return selectors.tenant_get(principal=self.principal, tenant_id=self.kwargs["pk"])

    def perform_create(self, serializer):
        if not self.principal.can_manage_tenants:
            raise PermissionDenied("You cannot add tenants.")
        data = dict(serializer.validated_data)
        data["timezone_name"] = data.pop("timezone", "UTC")
        serializer.instance = services.tenant_create(agency=self.principal.agency, actor=self.principal.label, **data)

    def perform_update(self, serializer):
        principal = self.principal
        self.require_admin("change tenant settings")
        data = dict(serializer.validated_data)
        if "timezone" in data:
            data["timezone_name"] = data.pop("timezone")
        serializer.instance = services.tenant_update(tenant=serializer.instance, actor=principal.label, **data)

    def perform_destroy(self, instance):
        if not self.principal.can_manage_tenants:
            raise PermissionDenied("You cannot delete tenants.")
        services.tenant_delete(tenant=instance)


class ActivityViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """A tenant's activity trail, newest first."""

    model = ActivityEntry
    serializer_class = ActivityEntrySerializer

    def get_queryset(self):
        return selectors.activity_list(tenant=self.tenant)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyViewSet):
    """The agency's members. Owners and admins change roles and remove members."""

    model = Membership
    serializer_class = MembershipSerializer
    permission_classes = [IsAgencyPrincipal]

    def get_queryset(self):
        return selectors.membership_list(principal=self.principal).prefetch_related(
            Prefetch("limited_to_tenants", queryset=Tenant.objects.only("id"))
        )

    def get_object(self):
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (Membership.DoesNotExist, ValueError) as exc:
            raise NotFoundError("Member not found.") from exc

    @extend_schema(request=MembershipChangeSerializer, responses=MembershipSerializer)
    def partial_update(self, request, pk=None):
        self._require_admin()
        membership = self.get_object()
        serializer = MembershipChangeSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        services.membership_change(
            membership=membership,
            by=self.principal.membership,
            role=serializer.validated_data.get("role"),
            tenants=serializer.validated_data.get("limited_to_tenants"),
        )
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request, pk=None):
        self._require_admin()
        services.membership_remove(membership=self.get_object(), by=self.principal.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _require_admin(self):
        if not IsAgencyAdmin().has_permission(self.request, self):
            raise PermissionDenied(IsAgencyAdmin.message)


class InvitationViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, AgencyViewSet):
    """Open invitations. Creating one emails a sign-up link."""

    model = Invitation
    serializer_class = InvitationSerializer
    permission_classes = [IsAgencyAdmin]

    def get_queryset(self):
        return selectors.invitation_list(principal=self.principal)

    def get_object(self):
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (Invitation.DoesNotExist, ValueError) as exc:
            raise NotFoundError("Invitation not found.") from exc

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.member_invite(
            agency=self.principal.agency,
            email=data["email"],
            role=data.get("role", Membership.Role.MEMBER),
            tenants=data.get("limited_to_tenants", []),
            invited_by=self.request.user,
        )


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, AgencyViewSet):
    """API keys. The secret appears once, in the answer to the create call; DELETE revokes."""

    model = ApiKey
    serializer_class = ApiKeySerializer
    permission_classes = [IsAgencyAdmin]

    def get_queryset(self):
        return selectors.api_key_list(principal=self.principal).prefetch_related("limited_to_tenants")

    def get_object(self):
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (ApiKey.DoesNotExist, ValueError) as exc:
            raise NotFoundError("API key not found.") from exc

    @extend_schema(request=ApiKeySerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        serializer = ApiKeySerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        api_key, full_key = services.api_key_create(
            agency=self.principal.agency,
            name=data["name"],
            read_only=data.get("read_only", False),
            tenants=data.get("limited_to_tenants", []),
            created_by=request.user,
        )
        api_key.key = full_key
        return Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.api_key_revoke(api_key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
