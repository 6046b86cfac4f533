from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Min
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from connections.models import Connection, PartnerWebhookEndpoint
from core.api.serializers import EmptySerializer, no_input
from sync.api.serializers import (
    AuditEntrySerializer,
    BackfillCreateSerializer,
    BackfillSerializer,
    CauseGroupSerializer,
    DiscardSerializer,
    JobSelectionSerializer,
    PartnerWebhookEndpointChangeSerializer,
    PartnerWebhookEndpointCreatedSerializer,
    PartnerWebhookEndpointInputSerializer,
    PartnerWebhookEndpointSerializer,
    SyncJobSerializer,
    WriteBackDiscardSerializer,
    WriteBackSelectionSerializer,
    WriteBackSerializer,
)
from sync.models import AuditEntry, Backfill, DeadLetter, SyncJob, WriteBack
from sync.services import backfill as backfill_service
from sync.services import operations, partner_webhooks, write_backs
from sync.services.backfill_budget import DEFAULT_BUDGET_SHARE, backfill_progress
from tenants.api.base import TenantScopedViewSet

# What changing what is sent to Xero needs (replaying, discarding, backfilling): completes "Only … admins can".
WRITER = "change what is sent to Xero"
JOB_FILTERS = ("state", "entity", "operation", "source_id", "xero_id", "cause")


def _filtered(queryset, params, names):
    for name in names:
        value = params.get(name)
        if value:
            try:
                queryset = queryset.filter(**{name: value})
            except (ValueError, DjangoValidationError):
                # ?connection=abc: an id field given something that is not an id is the caller's mistake, not a 500.
                raise ValidationError({name: [f"“{value}” is not a valid {name}."]}) from None
    return queryset


def _time_param(params, name):
    value = params.get(name)
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValidationError({name: ["Use an ISO 8601 date-time, e.g. 2026-11-21T09:00:00Z."]})
    return parsed


class SyncJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's sync jobs. Filter by state, entity, operation, source_id, xero_id or cause."""

    model = SyncJob
    serializer_class = SyncJobSerializer

    def get_queryset(self):
        jobs = SyncJob.objects.filter(tenant=self.tenant).order_by("-id")
        return _filtered(jobs, self.request.query_params, JOB_FILTERS)

    @extend_schema(responses=CauseGroupSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="needs-attention")
    def needs_attention(self, request, tenant_id=None):
        """Jobs held for a person, grouped by cause, largest group first."""
        groups = operations.needs_attention_groups().annotate(id=Min("id"))
        page = self.paginate_queryset(groups)
        return self.get_paginated_response(CauseGroupSerializer(page, many=True).data)

    @extend_schema(request=JobSelectionSerializer, responses={200: None})
    @action(detail=False, methods=["post"])
    def replay(self, request, tenant_id=None):
        """Send again: one job, a selection (ids), or everything with one cause."""
        self.require_admin(WRITER)
        data = _valid(JobSelectionSerializer, request)
        count = operations.jobs_replay(actor=self.principal.label, job_ids=data.get("ids"), cause=data.get("cause"))
        return Response({"replayed": count})

    @extend_schema(request=DiscardSerializer, responses={200: None})
    @action(detail=False, methods=["post"])
    def discard(self, request, tenant_id=None):
        """Give up on jobs on purpose, with a reason that is kept."""
        self.require_admin(WRITER)
        data = _valid(DiscardSerializer, request)
        count = operations.jobs_discard(
            actor=self.principal.label, reason=data["reason"], job_ids=data.get("ids"), cause=data.get("cause")
        )
        return Response({"discarded": count})


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class DeadLetterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Jobs that used up their retries: replay or discard them through …/jobs/replay/ and …/jobs/discard/."""

    model = DeadLetter
    serializer_class = SyncJobSerializer

    def get_queryset(self):
        return DeadLetter.objects.filter(tenant=self.tenant, state=SyncJob.State.DEAD).order_by("-id")


@extend_schema(
    parameters=[
        OpenApiParameter(name, str, description=f"filter by {name}")
        for name in ("entity", "source_id", "xero_id", "outcome", "operation")
    ]
    + [OpenApiParameter("since", str), OpenApiParameter("until", str)]
)
class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The audit trail: everything the engine did, searchable by entity, source id, Xero id, outcome and time."""

    model = AuditEntry
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        params = self.request.query_params
        entries = _filtered(
            AuditEntry.objects.filter(tenant=self.tenant),
            params,
            ("entity", "source_id", "xero_id", "outcome", "operation"),
        )
        since, until = _time_param(params, "since"), _time_param(params, "until")
        if since:
            entries = entries.filter(created_at__gte=since)
        if until:
            entries = entries.filter(created_at__lt=until)
        return entries.order_by("-created_at", "-id")


class BackfillViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Historical migrations: create one (a dry run first), follow its progress and ETA, cancel it."""

    model = Backfill
    serializer_class = BackfillSerializer

    def get_queryset(self):
        return Backfill.objects.filter(tenant=self.tenant).order_by("-id")

    def _answer(self, backfill, status=200):
        progress = backfill_progress(backfill=backfill_service.backfill_refresh(backfill=backfill))
        if backfill.dry_run:
            progress["report"] = backfill.report
        return Response(BackfillSerializer(progress).data, status=status)

    def list(self, request, tenant_id=None):
        page = self.paginate_queryset(self.get_queryset())
        rows = [backfill_progress(backfill=backfill_service.backfill_refresh(backfill=b)) for b in page]
        return self.get_paginated_response(BackfillSerializer(rows, many=True).data)

    def retrieve(self, request, tenant_id=None, pk=None):
        return self._answer(self.get_object())

    @extend_schema(request=BackfillCreateSerializer, responses={201: BackfillSerializer})
    def create(self, request, tenant_id=None):
        """Plan a backfill from a date and start it in a worker; the answer is its progress so far."""
        self.require_admin(WRITER)
        data = _valid(BackfillCreateSerializer, request)
        backfill = backfill_service.backfill_create(
            tenant=self.tenant,
            since=data["since"],
            entities=data.get("entities"),
            dry_run=data["dry_run"],
            budget_share=data.get("budget_share", DEFAULT_BUDGET_SHARE),
            requested_by=self.principal.label,
        )
        backfill_service.backfill_enqueue(backfill=backfill)
        return self._answer(backfill, status=201)

    @extend_schema(request=EmptySerializer, responses={200: BackfillSerializer})
    @action(detail=True, methods=["post"], serializer_class=EmptySerializer)
    def cancel(self, request, tenant_id=None, pk=None):
        """Stop it: no more reading, and its jobs not yet sent are discarded."""
        no_input(request)
        self.require_admin(WRITER)
        backfill = backfill_service.backfill_cancel(backfill=self.get_object(), actor=self.principal.label)
        return self._answer(backfill)


class WriteBackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Write-backs to sources and partners (order payment status, partner webhooks), each with its delivery log.

    Filter by state (dead = dead letters), kind, event, connection or source_id; replay or discard a selection.
    """

    model = WriteBack
    serializer_class = WriteBackSerializer

    def get_queryset(self):
        rows = WriteBack.objects.filter(tenant=self.tenant).prefetch_related("attempt_log").order_by("-id")
        return _filtered(rows, self.request.query_params, ("state", "kind", "event", "connection", "source_id"))

    @extend_schema(request=WriteBackSelectionSerializer, responses={200: None})
    @action(detail=False, methods=["post"])
    def replay(self, request, tenant_id=None):
        """Send again: one write-back or a selection (dead letters, discarded, or delivered ones on purpose)."""
        self.require_admin("replay write-backs")
        data = _valid(WriteBackSelectionSerializer, request)
        return Response({"replayed": write_backs.write_backs_replay(actor=self.principal.label, ids=data["ids"])})

    @extend_schema(request=WriteBackDiscardSerializer, responses={200: None})
    @action(detail=False, methods=["post"])
    def discard(self, request, tenant_id=None):
        """Give up on pending or dead write-backs, with a reason that is kept."""
        self.require_admin("discard write-backs")
        data = _valid(WriteBackDiscardSerializer, request)
        count = write_backs.write_backs_discard(actor=self.principal.label, ids=data["ids"], reason=data["reason"])
        return Response({"discarded": count})


class PartnerWebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Where partner (REST) connections receive our events. The signing secret is shown once: on creation and on
    rotation. Verification recipe for partner developers: README, "Outbound partner webhooks"."""

    model = PartnerWebhookEndpoint
    serializer_class = PartnerWebhookEndpointSerializer

    def get_queryset(self):
        return PartnerWebhookEndpoint.objects.filter(tenant=self.tenant).order_by("id")

    @extend_schema(
        request=PartnerWebhookEndpointInputSerializer, responses={201: PartnerWebhookEndpointCreatedSerializer}
    )
    def create(self, request, tenant_id=None):
        self.require_admin("configure partner webhooks")
        data = _valid(PartnerWebhookEndpointInputSerializer, request)
        connection = Connection.objects.filter(tenant=self.tenant, pk=data["connection"]).first()
        if connection is None:
            raise ValidationError({"connection": ["No such connection in this tenant."]})
        if PartnerWebhookEndpoint.objects.filter(connection=connection).exists():
            raise ValidationError({"connection": ["This connection has an endpoint already: change it instead."]})
        endpoint, secret = partner_webhooks.partner_webhook_endpoint_set(
            connection=connection, url=data["url"], events=data["events"], is_active=data["is_active"]
        )
        body = {**PartnerWebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=PartnerWebhookEndpointChangeSerializer, responses=PartnerWebhookEndpointSerializer)
    def partial_update(self, request, tenant_id=None, pk=None):
        endpoint = self.get_object()
        self.require_admin("configure partner webhooks")
        data = _valid(PartnerWebhookEndpointChangeSerializer, request)
        endpoint, _ = partner_webhooks.partner_webhook_endpoint_set(
            connection=endpoint.connection,
            url=data.get("url", endpoint.url),
            events=data.get("events", endpoint.events),
            is_active=data.get("is_active", endpoint.is_active),
        )
        return Response(PartnerWebhookEndpointSerializer(endpoint).data)

    @extend_schema(request=EmptySerializer, responses=PartnerWebhookEndpointCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret", serializer_class=EmptySerializer)
    def rotate_secret(self, request, tenant_id=None, pk=None):
        """A new signing secret, shown this once; deliveries from now on are signed with it."""
        no_input(request)
        endpoint = self.get_object()
        self.require_admin("rotate webhook secrets")
        secret = partner_webhooks.partner_webhook_secret_rotate(endpoint=endpoint)
        return Response({**PartnerWebhookEndpointSerializer(endpoint).data, "secret": secret})
