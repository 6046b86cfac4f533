from decimal import Decimal

from rest_framework import serializers

from connections.models import PartnerWebhookEndpoint
from core.api.serializers import StrictSerializer
from core.errors import ApplicationError
from sync.models import AuditEntry, SyncJob, WriteBack, WriteBackAttempt
from sync.services.backfill import ENTITIES as BACKFILL_ENTITIES
from sync.services.backfill import since_parse


class SyncJobSerializer(serializers.ModelSerializer):
    """A job with the source record, the payload sent and Xero's answer."""

    class Meta:
        model = SyncJob
        fields = [
            "id",
            "operation",
            "entity",
            "source_id",
            "state",
            "attempts",
            "next_attempt_at",
            "error_code",
            "cause",
            "xero_id",
            "record",
            "payload",
            "response",
            "discard_reason",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class CauseGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The oldest job with this cause.")
    cause = serializers.CharField()
    error_code = serializers.CharField()
    count = serializers.IntegerField()


class JobSelectionSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=5000)
    cause = serializers.CharField(required=False, max_length=500)

    def validate(self, attrs):
        if not attrs.get("ids") and not attrs.get("cause"):
            raise serializers.ValidationError("Name the jobs (ids) or a cause.")
        return attrs


class DiscardSerializer(JobSelectionSerializer):
    reason = serializers.CharField(max_length=500)


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "entity",
            "source_id",
            "xero_id",
            "operation",
            "outcome",
            "detail",
            "request",
            "response",
            "job",
        ]
        read_only_fields = fields


class BackfillCreateSerializer(StrictSerializer):
    since = serializers.CharField(help_text="First day (YYYY-MM-DD, UTC) or an ISO 8601 date-time with a zone.")
    entities = serializers.ListField(
        child=serializers.ChoiceField(choices=list(BACKFILL_ENTITIES)), required=False, allow_empty=False
    )
    dry_run = serializers.BooleanField(default=False)
    budget_share = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal("1"), required=False
    )

    def validate_since(self, value):
        try:
            return since_parse(value)
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.message) from None


class BackfillSerializer(serializers.Serializer):
    """A backfill's progress (done/total, ETA from the remaining Xero budget) and, for a dry run, its report."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    dry_run = serializers.BooleanField()
    since = serializers.CharField()
    entities = serializers.ListField(child=serializers.CharField())
    budget_share = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    percent = serializers.FloatField()
    created = serializers.IntegerField()
    matched = serializers.IntegerField()
    blocked = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    xero_requests_needed = serializers.IntegerField()
    eta_seconds = serializers.IntegerField(allow_null=True)
    eta_at = serializers.CharField(allow_null=True)
    error = serializers.CharField()
    started_at = serializers.CharField(allow_null=True)
    finished_at = serializers.CharField(allow_null=True)
    report = serializers.JSONField(required=False)


class WriteBackAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WriteBackAttempt
        fields = ["number", "ok", "status_code", "latency_ms", "response_excerpt", "error", "created_at"]
        read_only_fields = fields


class WriteBackSerializer(serializers.ModelSerializer):
    """A write-back to a source or partner, with its delivery log (every attempt, oldest first)."""

    attempt_log = WriteBackAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WriteBack
        fields = [
            "id",
            "connection",
            "kind",
            "event",
            "source_id",
            "data",
            "state",
            "attempts",
            "next_attempt_at",
            "error_code",
            "cause",
            "created_at",
            "finished_at",
            "attempt_log",
        ]
        read_only_fields = fields


class WriteBackSelectionSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=5000)


class WriteBackDiscardSerializer(WriteBackSelectionSerializer):
    reason = serializers.CharField(max_length=500)


class PartnerWebhookEndpointSerializer(serializers.ModelSerializer):
    """A partner connection's webhook endpoint. The signing secret is never shown here."""

    class Meta:
        model = PartnerWebhookEndpoint
        fields = ["id", "connection", "url", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class PartnerWebhookEndpointCreatedSerializer(PartnerWebhookEndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret: shown this once, store it now.")

    class Meta(PartnerWebhookEndpointSerializer.Meta):
        fields = [*PartnerWebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class PartnerWebhookEndpointInputSerializer(StrictSerializer):
    connection = serializers.IntegerField(min_value=1, help_text="The partner (REST) connection.")
    url = serializers.CharField(max_length=500, help_text="https:// URL that receives the POSTs.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=PartnerWebhookEndpoint.Event.choices), min_length=1, max_length=20
    )
    is_active = serializers.BooleanField(required=False, default=True)


class PartnerWebhookEndpointChangeSerializer(StrictSerializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=PartnerWebhookEndpoint.Event.choices),
        min_length=1,
        max_length=20,
        required=False,
    )
    is_active = serializers.BooleanField(required=False)
