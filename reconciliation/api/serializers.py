from django.urls import reverse
from rest_framework import serializers

from core.api.serializers import StrictSerializer
from reconciliation.models import Mismatch, ReconciliationRun


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "trigger",
            "status",
            "period_start",
            "period_end",
            "started_at",
            "finished_at",
            "mismatch_count",
            "xero_calls",
            "error",
        ]
        read_only_fields = fields


class RunQueuedSerializer(serializers.ModelSerializer):
    """A run just requested: recorded as pending, its comparison queued."""

    url = serializers.SerializerMethodField(help_text="The run's own address: GET it to follow its status.")
    task_id = serializers.SerializerMethodField(help_text="The queued task that carries the run out.")

    class Meta:
        model = ReconciliationRun
        fields = ["id", "url", "status", "trigger", "period_start", "period_end", "task_id"]
        read_only_fields = fields

    def get_url(self, run) -> str:
        path = reverse("tenant-reconciliations-detail", kwargs={"tenant_id": run.tenant_id, "pk": run.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_task_id(self, run) -> str:
        return self.context.get("task_id", "")


class KindCountSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    informational = serializers.BooleanField()


class EntityLineSerializer(serializers.Serializer):
    entity = serializers.CharField()
    compared = serializers.IntegerField()
    matched = serializers.IntegerField()
    mismatches = serializers.IntegerField()
    source_total = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    xero_total = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    total_difference = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)


class ReportSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    needs_action = serializers.IntegerField(help_text="Open mismatches that are not informational.")
    kinds = KindCountSerializer(many=True)
    entities = EntityLineSerializer(many=True)
    states = serializers.DictField(child=serializers.IntegerField())


class RunDetailSerializer(RunSerializer):
    """A run with what it found: counts per class, per entity with both sides' totals, and per state."""

    summary = serializers.JSONField(read_only=True)
    report = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "summary", "report"]
        read_only_fields = fields

    def get_report(self, run) -> dict:
        return ReportSerializer(self.context["report"]).data


class MismatchSerializer(serializers.ModelSerializer):
    difference = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True, read_only=True)
    acted_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = Mismatch
        fields = [
            "id",
            "run",
            "kind",
            "entity",
            "state",
            "source_connection",
            "source_id",
            "source_label",
            "xero_id",
            "xero_label",
            "source_value",
            "xero_value",
            "difference",
            "currency",
            "detail",
            "suggested_action",
            "note",
            "acted_by",
            "acted_at",
        ]
        read_only_fields = fields


class RunCreateSerializer(StrictSerializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField()


class MismatchSelectionSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=5000)


class AcceptSerializer(MismatchSelectionSerializer):
    note = serializers.CharField(max_length=500)


class ActionResultSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    skipped = serializers.DictField(child=serializers.CharField(), help_text="Mismatch id → why it was left.")
