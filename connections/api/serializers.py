from rest_framework import serializers

from connections.models import Connection
from connections.providers.base import AuthKind, ProviderValidationError
from connections.providers.registry import UnknownProviderError, provider_choices, provider_get
from core.api.serializers import StrictSerializer


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as the API shows it: status and budget, never a secret."""

    provider_name = serializers.SerializerMethodField()
    has_credentials = serializers.BooleanField(read_only=True)
    has_webhook_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = Connection
        fields = [
            "id",
            "provider",
            "provider_name",
            "display_name",
            "status",
            "status_reason",
            "status_changed_at",
            "external_account_id",
            "base_url",
            "has_credentials",
            "has_webhook_secret",
            "last_activity_at",
            "last_success_at",
            "blocked_until",
            "minute_remaining",
            "day_remaining",
            "day_limit_reset_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_provider_name(self, obj) -> str:
        try:
            return provider_get(obj.provider).name
        except UnknownProviderError:
            # A provider removed from the registry: its old rows still list.
            return obj.provider


class ConnectionCreateSerializer(StrictSerializer):
    """Connect a provider that uses pasted credentials. Credentials and the webhook secret are write-only."""

    provider = serializers.ChoiceField(choices=provider_choices())
    display_name = serializers.CharField(max_length=200)
    credentials = serializers.DictField(
        child=serializers.CharField(max_length=2000, trim_whitespace=True), required=False, write_only=True
    )
    account = serializers.DictField(child=serializers.CharField(max_length=500), required=False)
    webhook_secret = serializers.CharField(max_length=4000, required=False, write_only=True)

    def validate(self, data):
        provider = provider_get(data["provider"])
        if not provider.connectable_with_credentials:
            raise serializers.ValidationError(
                {"provider": [f"{provider.name} connects through its own sign-in page (OAuth2), not with pasted keys."]}
            )
        errors = {}
        if provider.auth_kind != AuthKind.INBOUND_ONLY:
            try:
                data["credentials"] = provider.validate_credentials(data.get("credentials", {}))
            except ProviderValidationError as exc:
                errors["credentials"] = exc.errors
        elif data.get("credentials"):
            errors["credentials"] = {"": [f"{provider.name} takes no credentials."]}
        if provider.account_fields:
            try:
                provider.validate_account(data.get("account", {}))
            except ProviderValidationError as exc:
                errors["account"] = exc.errors
        elif data.get("account"):
            errors["account"] = {"": [f"{provider.name} takes no account fields."]}
        if data.get("webhook_secret") and not provider.webhook_signing:
            errors["webhook_secret"] = [f"{provider.name} does not sign its webhooks."]
        if errors:
            raise serializers.ValidationError(errors)
        return data


class ConnectionDisconnectSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class XeroAuthorizeSerializer(serializers.Serializer):
    authorize_url = serializers.URLField(read_only=True)


class CheckResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField(read_only=True)
    message = serializers.CharField(read_only=True)


class ReferenceCountsSerializer(serializers.Serializer):
    """How many of each kind of Xero setting were read and cached."""

    organisation = serializers.IntegerField(read_only=True)
    tax_rates = serializers.IntegerField(read_only=True)
    accounts = serializers.IntegerField(read_only=True)
    tracking_categories = serializers.IntegerField(read_only=True)
    currencies = serializers.IntegerField(read_only=True)
    items = serializers.IntegerField(read_only=True)
    contact_groups = serializers.IntegerField(read_only=True)


class _OrganisationSummary(serializers.Serializer):
    name = serializers.CharField()
    country = serializers.CharField()
    base_currency = serializers.CharField()


class _TaxRateSummary(serializers.Serializer):
    tax_type = serializers.CharField()
    name = serializers.CharField()
    effective_rate = serializers.CharField(allow_null=True, help_text='A decimal string, e.g. "10.0000".')
    status = serializers.CharField()


class _AccountSummary(serializers.Serializer):
    account_id = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    tax_type = serializers.CharField()
    status = serializers.CharField()
    enable_payments = serializers.BooleanField()


class _TrackingOptionSummary(serializers.Serializer):
    tracking_option_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()


class _TrackingCategorySummary(serializers.Serializer):
    tracking_category_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    options = _TrackingOptionSummary(many=True)


class _CurrencySummary(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()


class ReferenceSummarySerializer(serializers.Serializer):
    """The cached Xero settings mapping screens choose from; `fetched_at` is null when never read."""

    fetched_at = serializers.DateTimeField(allow_null=True)
    organisation = _OrganisationSummary()
    tax_rates = _TaxRateSummary(many=True)
    accounts = _AccountSummary(many=True)
    tracking_categories = _TrackingCategorySummary(many=True)
    currencies = _CurrencySummary(many=True)
