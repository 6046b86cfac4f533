"""Mapping endpoints under /api/v1/tenants/{tenant_id}/mappings/…: thin views over selectors and services."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from connections.canonical import from_json
from core.api.serializers import EmptySerializer, no_input
from core.errors import NotFoundError
from mappings import models, services
from mappings.api import serializers as s
from mappings.health import mapping_gaps
from mappings.preview import invoice_preview
from mappings.selectors import source_connection_get
from mappings.suggestions import suggestion_accept, suggestion_dismiss, suggestions_accept, suggestions_refresh
from tenants.api.base import TenantScopedViewMixin, TenantScopedViewSet
from tenants.models import Tenant


class ManagerRequired:
    def require_manager(self):
        # Owners, admins and writable API keys change mappings; members only look.
        principal = self.principal
        if principal.read_only or (principal.api_key is None and not principal.is_admin):
            raise PermissionDenied("Only agency owners and admins can change mappings.")


class MappingViewSet(
    ManagerRequired,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    """CRUD for one kind of mapping; every change is checked against Xero and audited."""

    def get_queryset(self):
        return self.model.objects.filter(tenant=self.tenant).order_by(*self.model._meta.ordering or ["id"], "id")

    def get_object(self):
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (self.model.DoesNotExist, ValueError, TypeError) as exc:
            raise NotFoundError(f"{self.model._meta.verbose_name.capitalize()} not found.") from exc

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tenant": self.tenant}

    def create(self, request, *args, **kwargs):
        self.require_manager()
        return super().create(request, *args, **kwargs)

    def update(self, request, *args, **kwargs):
        self.get_object()  # another tenant's row is a 404 before any permission answer
        self.require_manager()
        return super().update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        self.require_manager()
        services.mapping_delete(instance=instance, actor=self.principal.label)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_create(self, serializer):
        serializer.instance = services.mapping_save(instance=serializer.candidate, actor=self.principal.label)

    def perform_update(self, serializer):
        before = services.mapping_snapshot(serializer.instance)
        serializer.instance = services.mapping_save(
            instance=serializer.candidate, actor=self.principal.label, before=before
        )


def _viewset(model, serializer):
    return type(f"{model.__name__}ViewSet", (MappingViewSet,), {"model": model, "serializer_class": serializer})


TaxMappingViewSet = _viewset(models.TaxMapping, s.TaxMappingSerializer)
AccountRuleViewSet = _viewset(models.AccountRule, s.AccountRuleSerializer)
PaymentAccountMappingViewSet = _viewset(models.PaymentAccountMapping, s.PaymentAccountMappingSerializer)
TrackingMappingViewSet = _viewset(models.TrackingMapping, s.TrackingMappingSerializer)
ItemMappingViewSet = _viewset(models.ItemMapping, s.ItemMappingSerializer)
ContactPolicyViewSet = _viewset(models.ContactPolicy, s.ContactPolicySerializer)
PostingPolicyViewSet = _viewset(models.PostingPolicy, s.PostingPolicySerializer)
FieldTransformViewSet = _viewset(models.FieldTransform, s.FieldTransformSerializer)


class SourceValueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """What the tenant's sources showed: tax keys, payment methods, stores, …"""

    model = models.SourceValue
    serializer_class = s.SourceValueSerializer

    def get_queryset(self):
        return models.SourceValue.objects.filter(tenant=self.tenant).order_by("kind", "value", "id")


class MappingSuggestionViewSet(ManagerRequired, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Suggestions with their reasons; nothing changes until one is accepted."""

    model = models.MappingSuggestion
    serializer_class = s.MappingSuggestionSerializer

    def get_queryset(self):
        queryset = models.MappingSuggestion.objects.filter(tenant=self.tenant).order_by("kind", "key", "id")
        wanted = self.request.query_params.get("status")
        return queryset.filter(status=wanted) if wanted in models.MappingSuggestion.Status.values else queryset

    def get_object(self):
        try:
            return models.MappingSuggestion.objects.get(tenant=self.tenant, pk=int(self.kwargs["pk"]))
        except (models.MappingSuggestion.DoesNotExist, ValueError, TypeError) as exc:
            raise NotFoundError("Suggestion not found.") from exc

    @extend_schema(request=s.SuggestionRefreshSerializer, responses=s.MappingSuggestionSerializer(many=True))
    @action(detail=False, methods=["post"])
    def refresh(self, request, tenant_id=None):
        body = s.SuggestionRefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        source = source_connection_get(tenant=self.tenant, id=body.validated_data["source_connection"])
        self.require_manager()
        suggestions = suggestions_refresh(source_connection=source)
        return Response(s.MappingSuggestionSerializer(suggestions, many=True).data)

    @extend_schema(request=EmptySerializer, responses=s.MappingSuggestionSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, tenant_id=None, pk=None):
        suggestion = self.get_object()
        no_input(request)
        self.require_manager()
        suggestion_accept(suggestion=suggestion, actor=self.principal.label)
        return Response(s.MappingSuggestionSerializer(suggestion).data)

    @extend_schema(request=EmptySerializer, responses=s.MappingSuggestionSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, tenant_id=None, pk=None):
        suggestion = self.get_object()
        no_input(request)
        self.require_manager()
        suggestion_dismiss(suggestion=suggestion, actor=self.principal.label)
        return Response(s.MappingSuggestionSerializer(suggestion).data)

    @extend_schema(request=s.SuggestionBulkAcceptSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-accept", url_name="bulk-accept")
    def accept_many(self, request, tenant_id=None):
        body = s.SuggestionBulkAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.require_manager()
        chosen = models.MappingSuggestion.objects.filter(tenant=self.tenant, status="open")
        if not body.validated_data.get("all"):
            chosen = chosen.filter(pk__in=body.validated_data["ids"])
        return Response(suggestions_accept(suggestions=list(chosen), actor=self.principal.label))


class MappingHealthView(TenantScopedViewMixin, APIView):
    """Every gap that would hold the tenant's records back, each with a link to fix it."""

    model = Tenant
    serializer_class = s.HealthSerializer

    @extend_schema(responses=s.HealthSerializer)
    def get(self, request, tenant_id=None):
        gaps = mapping_gaps(tenant=self.tenant)
        problems = [{"code": p.code, "cause": p.cause, "fix_url": p.fix_url} for p in gaps]
        return Response({"id": self.tenant.pk, "ok": not problems, "gaps": problems})


class InvoicePreviewView(TenantScopedViewMixin, APIView):
    """The exact Xero invoice an order would become now, each line with its account, tax, tracking and rule."""

    model = models.SampleRecord
    serializer_class = s.PreviewSerializer

    @extend_schema(request=s.PreviewSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, tenant_id=None):
        body = s.PreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        source = source_connection_get(tenant=self.tenant, id=body.validated_data["source_connection"])
        order = body.validated_data.get("order")
        if order is None:
            sample = models.SampleRecord.objects.filter(
                tenant=self.tenant, source_connection=source, entity="order", source_id=body.validated_data["source_id"]
            ).first()
            if sample is None:
                raise NotFoundError("No recent order with this source_id; send the whole order instead.")
            order = from_json("order", sample.record)
        return Response(invoice_preview(source_connection=source, order=order))
