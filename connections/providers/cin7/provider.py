"""Cin7 Core (formerly DEAR Inventory): an inventory and sales source. Every request carries the account id and
an API application key as headers; 60 calls per minute per API application."""

import re

from connections.providers.base import (
    Account,
    AccountField,
    AuthKind,
    CredentialField,
    Provider,
    ProviderValidationError,
    RateLimits,
    Role,
    https_url,
)

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Cin7Provider(Provider):
    def account_from(self, values: dict[str, str]) -> Account:
        account_id = values["account_id"]
        if not GUID.match(account_id):
            raise ProviderValidationError({"account_id": ["The Account ID is a GUID, as shown under Integrations."]})
        base_url = self.default_base_url
        if values.get("api_url"):
            from django.conf import settings

            if not settings.CONNECTIONS_ALLOW_HTTP:
                # Sending the application key to another host is only for the sandbox in development.
                raise ProviderValidationError({"api_url": ["Only Cin7 Core's own API address is accepted."]})
            base_url = https_url(values["api_url"], field_name="api_url", allow_http=True)
        return Account(external_account_id=account_id.lower(), base_url=base_url)


PROVIDER = Cin7Provider(
    id="cin7",
    name="Cin7 Core",
    role=Role.SOURCE,
    auth_kind=AuthKind.HEADER_KEYS,
    credential_fields=(CredentialField("application_key", "API application key"),),
    account_fields=(
        AccountField("account_id", "Account ID"),
        AccountField("api_url", "API address", required=False, help_text="Development and sandbox only."),
    ),
    webhook_events=(
        "Sale/OrderAuthorised",
        "Sale/InvoiceAuthorised",
        "Sale/CreditNoteAuthorised",
        "Sale/Voided",
        "Sale/PartialPaymentReceived",
        "Sale/FullPaymentReceived",
        "Customer/Updated",
        "Product/Updated",
        "Stock/AvailableStockLevelChanged",
    ),
    # Cin7 does not sign deliveries: the connection's unguessable URL token authenticates them.
    webhook_signing="",
    rate_limits=RateLimits(calls=60, per_seconds=60),
    default_base_url="https://inventory.dearsystems.com/ExternalApi/v2",
    client_path="connections.providers.cin7.client.Cin7Client",
)
