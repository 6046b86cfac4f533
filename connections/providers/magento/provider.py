"""Magento 2 / Adobe Commerce: a commerce source. An integration or admin token sent as a Bearer token; OAuth 1.0a
signing (HMAC-SHA256) when the store keeps integration tokens from being used as bearer tokens. No REST rate
limit by default."""

import re

from connections.providers.base import (
    Account,
    AccountField,
    AuthKind,
    CredentialField,
    Provider,
    ProviderValidationError,
    Role,
    https_url,
)

OAUTH1 = "OAuth 1.0a"
STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MagentoProvider(Provider):
    def account_from(self, values: dict[str, str]) -> Account:
        store_url = https_url(values["store_url"], field_name="store_url", allow_http=_allow_http())
        store_code = values.get("store_code") or "default"
        # Magento allows letters, digits and underscores; hyphens too, as the sandbox's store codes use them.
        if not STORE_CODE.match(store_code):
            raise ProviderValidationError({"store_code": ["Use the store view code, for example 'default'."]})
        host_and_path = store_url.split("://", 1)[1]
        return Account(external_account_id=f"{host_and_path}/{store_code}", base_url=f"{store_url}/rest/{store_code}")


def _allow_http() -> bool:
    from django.conf import settings

    return settings.CONNECTIONS_ALLOW_HTTP


PROVIDER = MagentoProvider(
    id="magento",
    name="Magento",
    role=Role.SOURCE,
    auth_kind=AuthKind.BEARER,
    credential_fields=(
        CredentialField(
            "access_token", "Access token", help_text="System > Integrations > your integration > Access Token."
        ),
        CredentialField("consumer_key", "Consumer key", required=False, group=OAUTH1),
        CredentialField("consumer_secret", "Consumer secret", required=False, group=OAUTH1),
        CredentialField("access_token_secret", "Access token secret", required=False, group=OAUTH1),
    ),
    account_fields=(
        AccountField("store_url", "Store URL", help_text="For example https://shop.example.com"),
        AccountField("store_code", "Store view code", required=False, help_text="Usually 'default'."),
    ),
    # Adobe Commerce webhooks (Magento Open Source has none: it is polled).
    webhook_events=(
        "observer.sales_order_save_commit_after",
        "observer.sales_order_invoice_save_after",
        "observer.sales_order_creditmemo_save_after",
        "observer.customer_save_commit_after",
    ),
    webhook_signing="rsa_sha256",
    client_path="connections.providers.magento.client.MagentoClient",
)
