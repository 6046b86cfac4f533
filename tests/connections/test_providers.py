"""The providers' declarations: one explicit registry, complete declarations, strict validation."""

import pytest

from connections.providers import registry
from connections.providers.base import AuthKind, ProviderValidationError, Role


def test_the_registry_is_one_explicit_tuple_of_the_five_providers():
    assert isinstance(registry.PROVIDERS, tuple)
    assert [p.id for p in registry.PROVIDERS] == ["xero", "magento", "cin7", "gorgias", "rest"]
    with pytest.raises(registry.UnknownProviderError):
        registry.provider_get("shopify")


@pytest.mark.parametrize("provider", registry.PROVIDERS, ids=lambda p: p.id)
def test_each_declaration_is_complete(provider):
    assert provider.name and isinstance(provider.role, Role) and isinstance(provider.auth_kind, AuthKind)
    for field in provider.credential_fields:
        assert field.label
    if provider.auth_kind == AuthKind.INBOUND_ONLY:
        assert not provider.has_outbound_client and provider.record_types
    else:
        assert provider.credential_fields and provider.has_outbound_client
        assert provider.client_class().provider is provider


def test_limits_and_kinds():
    xero, magento, cin7, gorgias, rest = registry.PROVIDERS
    assert (xero.rate_limits.calls, xero.rate_limits.per_seconds, xero.rate_limits.max_in_flight) == (60, 60, 5)
    assert xero.rate_limits.calls_per_day == 5000 and xero.role == Role.DESTINATION
    assert (cin7.rate_limits.calls, cin7.rate_limits.per_seconds) == (60, 60)
    assert (gorgias.rate_limits.calls, gorgias.rate_limits.per_seconds) == (40, 20)
    assert not magento.rate_limits.limited
    assert xero.auth_kind == AuthKind.OAUTH2 and not xero.connectable_with_credentials
    assert set(rest.record_types) == {"contacts", "orders", "payments", "refunds", "products"}


def test_validation_messages_never_carry_values():
    magento = registry.provider_get("magento")
    with pytest.raises(ProviderValidationError) as caught:
        magento.validate_credentials({"access_token": "tok-123", "consumer_secret": "cs-secret-456", "x": "y-789"})
    text = str(caught.value) + repr(caught.value.errors)
    assert "cs-secret-456" not in text and "tok-123" not in text and "y-789" not in text
    assert set(caught.value.errors) == {"x", "consumer_key", "access_token_secret"}


def test_accounts_are_normalised(settings):
    settings.CONNECTIONS_ALLOW_HTTP = False
    gorgias = registry.provider_get("gorgias")
    account = gorgias.validate_account({"domain": "Acme.gorgias.com"})
    assert (account.external_account_id, account.base_url) == ("acme.gorgias.com", "https://acme.gorgias.com/api")
    with pytest.raises(ProviderValidationError):
        gorgias.validate_account({"domain": "http://evil.example.com"})
    with pytest.raises(ProviderValidationError):
        registry.provider_get("magento").validate_account({"store_url": "http://shop.example.com"})
    with pytest.raises(ProviderValidationError):
        registry.provider_get("cin7").validate_account(
            {"account_id": "3f1c2a9e-0b4d-4c7e-9a55-1d2e3f4a5b6c", "api_url": "https://evil.example.com"}
        )
    settings.CONNECTIONS_ALLOW_HTTP = True
    sandbox = registry.provider_get("magento").validate_account(
        {"store_url": "http://testserver/sandbox/magento", "store_code": "store-a"}
    )
    assert sandbox.base_url == "http://testserver/sandbox/magento/rest/store-a"
