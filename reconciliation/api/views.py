from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from reconciliation import selectors
from reconciliation.api import serializers as s
from reconciliation.models import ReconciliationRun
from reconciliation.reports import csv_response
from reconciliation.services.actions import mismatches_accept, mismatches_resync
from reconciliation.services.requests import reconciliation_request
from tenants.api.base import TenantScopedViewSet


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ReconciliationViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The tenant's reconciliation runs: list, start one on demand, read a run's report, its mismatches (filter by
    kind, entity, state; sort by kind, difference or source_label), download them as CSV, and act on them."""

    model = ReconciliationRun
    serializer_class = s.RunSerializer

    def get_queryset(self):
        return selectors.run_list(tenant=self.tenant)

    def _run(self) -> ReconciliationRun:
        return selectors.run_get(tenant=self.tenant, id=self.kwargs["pk"])

    @extend_schema(request=s.RunCreateSerializer, responses={202: s.RunQueuedSerializer})
    def create(self, request, tenant_id=None):
        """Start a reconciliation for a period (at most 366 days, ending no later than the tenant's today).

        The run is recorded at once as `pending` and its comparison is queued: the answer carries the run's `id`
        and `url` (GET it to follow the status to `running`, then `done` or `failed`) and the queue's `task_id`.
        """
        data = _valid(s.RunCreateSerializer, request)
        principal = self.principal
        run, task_id = reconciliation_request(
            tenant=self.tenant,
            period_start=data["period_start"],
            period_end=data["period_end"],
            actor=principal.label,
            requested_by=principal.membership.user if principal.membership else None,
        )
        body = s.RunQueuedSerializer(run, context={"request": request, "task_id": task_id}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.RunDetailSerializer)
    def retrieve(self, request, tenant_id=None, pk=None):
        """One run with its summary: counts per class, per entity with both sides' totals, per state."""
        run = self._run()
        report = selectors.run_report(run=run)
        return Response(s.RunDetailSerializer(run, context={"report": report}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str),
            OpenApiParameter("entity", str),
            OpenApiParameter("state", str),
            OpenApiParameter("sort", str, enum=list(selectors.MISMATCH_SORTS)),
        ],
        responses=s.MismatchSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def mismatches(self, request, tenant_id=None, pk=None):
        """The run's mismatches, both sides' values, the detail and the suggested action; paginated."""
        params = request.query_params
        mismatches = selectors.mismatch_list(
            run=self._run(),
            kind=params.get("kind"),
            entity=params.get("entity"),
            state=params.get("state"),
            sort=params.get("sort"),
        ).select_related("acted_by")
        page = self.paginate_queryset(mismatches)
        return self.get_paginated_response(s.MismatchSerializer(page, many=True).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="One mismatch per row.")})
    @action(detail=True, methods=["get"], url_path="csv")
    def csv(self, request, tenant_id=None, pk=None):
        """Every mismatch of the run as CSV: a header row, one mismatch per row, plain decimal amounts."""
        return csv_response(self._run())

    @extend_schema(request=s.MismatchSelectionSerializer, responses=s.ActionResultSerializer)
    @action(detail=True, methods=["post"])
    def resync(self, request, tenant_id=None, pk=None):
        """Send the selected mismatches' records to Xero again (re-staged through the sync engine)."""
        self.require_admin("resync or accept mismatches")
        run = self._run()
        data = _valid(s.MismatchSelectionSerializer, request)
        result = mismatches_resync(run=run, ids=data["ids"], actor=self.principal.label, user=self._user())
        return Response(s.ActionResultSerializer(result).data)

    @extend_schema(request=s.AcceptSerializer, responses=s.ActionResultSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, tenant_id=None, pk=None):
        """Accept the selected mismatches as they are, with a note; they stay accepted in later runs."""
        self.require_admin("resync or accept mismatches")
        run = self._run()
        data = _valid(s.AcceptSerializer, request)
        result = mismatches_accept(
            run=run, ids=data["ids"], note=data["note"], actor=self.principal.label, user=self._user()
        )
        return Response(s.ActionResultSerializer(result).data)

    def _user(self):
        membership = self.principal.membership
        return membership.user if membership else None
