"""API serializers for mappings: strict input, Xero choices checked exactly as in admin."""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from connections.models import Connection
from core.api.serializers import StrictModelSerializer, StrictSerializer
from mappings import models
from mappings.checks import mapping_problems
from mappings.preview import transform_preview
from mappings.selectors import source_connections

READ_ONLY = ["id", "created_at", "updated_at"]


def _texts():
    return serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=100)


class MappingSerializer(StrictModelSerializer):
    """Base: the source connection must be one of the tenant's sources; the result must pass mapping_problems."""

    source_connection = serializers.PrimaryKeyRelatedField(queryset=Connection.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenant = self.context.get("tenant")
        field = self.fields.get("source_connection")
        if tenant is not None and field is not None and not field.read_only:
            field.queryset = source_connections(tenant=tenant)

    def validate(self, attrs):
        tenant = self.context["tenant"]
        candidate = copy.copy(self.instance) if self.instance is not None else self.Meta.model(tenant=tenant)
        for name, value in attrs.items():
            setattr(candidate, name, value)
        candidate.tenant = tenant
        errors = mapping_problems(candidate)
        if not errors:
            try:
                candidate.validate_constraints()
            except DjangoValidationError as exc:
                errors = {"__all__": exc.messages}
        if errors:
            raise serializers.ValidationError(
                {("non_field_errors" if field == "__all__" else field): messages for field, messages in errors.items()}
            )
        self.candidate = candidate
        return attrs


class TaxMappingSerializer(MappingSerializer):
    class Meta:
        model = models.TaxMapping
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class AccountRuleSerializer(MappingSerializer):
    source_connection = serializers.PrimaryKeyRelatedField(
        queryset=Connection.objects.none(), allow_null=True, required=False
    )

    class Meta:
        model = models.AccountRule
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class PaymentAccountMappingSerializer(MappingSerializer):
    class Meta:
        model = models.PaymentAccountMapping
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class TrackingMappingSerializer(MappingSerializer):
    class Meta:
        model = models.TrackingMapping
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class ItemMappingSerializer(MappingSerializer):
    class Meta:
        model = models.ItemMapping
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class ContactPolicySerializer(MappingSerializer):
    match_order = serializers.ListField(
        child=serializers.ChoiceField(choices=models.ContactPolicy.Match.choices), required=False, max_length=5
    )
    sync_customer_groups = _texts()
    import_contact_groups = _texts()

    class Meta:
        model = models.ContactPolicy
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class PostingPolicySerializer(MappingSerializer):
    invoice_states = _texts()

    class Meta:
        model = models.PostingPolicy
        exclude = ["tenant"]
        read_only_fields = READ_ONLY


class FieldTransformSerializer(MappingSerializer):
    lookup = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True), required=False)
    preview = serializers.SerializerMethodField()

    class Meta:
        model = models.FieldTransform
        exclude = ["tenant"]
        read_only_fields = READ_ONLY

    def get_preview(self, obj) -> dict | None:
        return transform_preview(transform=obj)


class SourceValueSerializer(serializers.ModelSerializer):
    class Meta:
        model = models.SourceValue
        exclude = ["tenant"]
        read_only_fields = [f.name for f in models.SourceValue._meta.fields if f.name != "tenant"]


class MappingSuggestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = models.MappingSuggestion
        exclude = ["tenant"]
        read_only_fields = [f.name for f in models.MappingSuggestion._meta.fields if f.name != "tenant"]


class SuggestionRefreshSerializer(StrictSerializer):
    source_connection = serializers.IntegerField(min_value=1)


class SuggestionBulkAcceptSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("ids") and not attrs.get("all"):
            raise serializers.ValidationError({"ids": ["Give the ids to accept, or all: true."]})
        return attrs


class PreviewSerializer(StrictSerializer):
    source_connection = serializers.IntegerField(min_value=1)
    source_id = serializers.CharField(max_length=128, required=False)
    order = serializers.JSONField(required=False)

    def validate_order(self, value):
        from connections.canonical import from_json

        if not isinstance(value, dict):
            raise serializers.ValidationError("Give the order as a canonical order object.")
        try:
            return from_json("order", value)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise serializers.ValidationError(f"This is not a canonical order: {exc}") from None

    def validate(self, attrs):
        if not attrs.get("source_id") and attrs.get("order") is None:
            raise serializers.ValidationError({"source_id": ["Give a recent order's source_id, or a whole order."]})
        return attrs


class GapSerializer(serializers.Serializer):
    code = serializers.CharField()
    cause = serializers.CharField()
    fix_url = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The tenant.")
    ok = serializers.BooleanField()
    gaps = GapSerializer(many=True)
