"""Gorgias: a helpdesk, used as a customer (contact) source. HTTP Basic with the account email and a REST API key;
a leaky bucket of 40 requests per 20 seconds for API-key integrations."""

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

SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class GorgiasProvider(Provider):
    def account_from(self, values: dict[str, str]) -> Account:
        domain = values["domain"].strip().lower()
        if "://" in domain:
            from django.conf import settings

            if not settings.CONNECTIONS_ALLOW_HTTP:
                raise ProviderValidationError({"domain": ["Enter your Gorgias subdomain, for example 'acme'."]})
            base_url = https_url(domain, field_name="domain", allow_http=True)
            return Account(external_account_id=base_url.split("://", 1)[1], base_url=base_url)
        subdomain = domain.removesuffix(".gorgias.com")
        if not SUBDOMAIN.match(subdomain):
            raise ProviderValidationError({"domain": ["Enter your Gorgias subdomain, for example 'acme'."]})
        return Account(external_account_id=f"{subdomain}.gorgias.com", base_url=f"https://{subdomain}.gorgias.com/api")


PROVIDER = GorgiasProvider(
    id="gorgias",
    name="Gorgias",
    role=Role.SOURCE,
    auth_kind=AuthKind.BASIC,
    credential_fields=(
        CredentialField("username", "Account email"),
        CredentialField("api_key", "REST API key", help_text="Settings > REST API."),
    ),
    account_fields=(AccountField("domain", "Gorgias domain", help_text="acme for acme.gorgias.com"),),
    # HTTP integrations fire on ticket triggers only; customers are polled.
    webhook_events=("ticket-created", "ticket-updated"),
    webhook_signing="",
    rate_limits=RateLimits(calls=40, per_seconds=20),
    client_path="connections.providers.gorgias.client.GorgiasClient",
)
