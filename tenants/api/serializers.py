import zoneinfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import StrictModelSerializer, StrictSerializer
from tenants.models import ActivityEntry, Agency, ApiKey, Invitation, Membership, Tenant


class AgencySerializer(StrictModelSerializer):
    class Meta:
        model = Agency
        fields = ["id", "name", "slug", "created_at"]
        read_only_fields = ["id", "slug", "created_at"]


class TenantSerializer(StrictModelSerializer):
    slug = serializers.SlugField(max_length=60, required=False)
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "country", "base_currency", "timezone", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness of slug within the agency is checked by the service (the agency is not an input field).
        validators = []

    def to_internal_value(self, data):
        # Codes are stored upper case; accept "au" and "aud" as people type them.
        if isinstance(data, dict):
            data = {
                k: v.upper() if k in ("country", "base_currency") and isinstance(v, str) else v for k, v in data.items()
            }
        return super().to_internal_value(data)

    def validate_timezone(self, value):
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(f"'{value}' is not a known time zone, e.g. Australia/Sydney.")
        return value


class ActivityEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityEntry
        fields = ["id", "created_at", "actor", "action", "subject", "before", "after"]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class TenantIdsField(serializers.PrimaryKeyRelatedField):
    """Tenant ids of the caller's own agency; any other id is refused as if it did not exist."""

    def get_queryset(self):
        from tenants.access import principal_from_request

        principal = principal_from_request(self.context["request"])
        return principal.tenants() if principal else Tenant.objects.none()


class MembershipSerializer(StrictModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    limited_to_tenants = TenantIdsField(many=True, required=False)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "limited_to_tenants", "created_at"]
        read_only_fields = ["id", "email", "created_at"]


class InvitationSerializer(StrictModelSerializer):
    limited_to_tenants = TenantIdsField(many=True, required=False)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "limited_to_tenants", "expires_at", "created_at"]
        read_only_fields = ["id", "expires_at", "created_at"]
        validators = []


class ApiKeySerializer(StrictModelSerializer):
    limited_to_tenants = TenantIdsField(many=True, required=False)
    key_prefix = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "key_prefix",
            "read_only",
            "limited_to_tenants",
            "last_used_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = ["id", "key_prefix", "last_used_at", "revoked_at", "created_at"]

    def get_key_prefix(self, obj) -> str:
        return f"lb_{obj.prefix}_"


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """Returned once, at creation: the only time the secret is shown."""

    key = serializers.CharField(read_only=True)

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class MembershipChangeSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices, required=False)
    limited_to_tenants = TenantIdsField(many=True, required=False)
