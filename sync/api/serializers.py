from rest_framework import serializers

from core.api.serializers import StrictSerializer
from sync.models import AuditEntry, SyncJob


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
