"""Every provider, in one explicit tuple. Adding a provider means adding its folder and one line here."""

from connections.providers.base import Provider
from connections.providers.cin7.provider import PROVIDER as CIN7
from connections.providers.gorgias.provider import PROVIDER as GORGIAS
from connections.providers.magento.provider import PROVIDER as MAGENTO
from connections.providers.rest.provider import PROVIDER as REST
from connections.providers.xero.provider import PROVIDER as XERO

PROVIDERS: tuple[Provider, ...] = (XERO, MAGENTO, CIN7, GORGIAS, REST)

_BY_ID = {provider.id: provider for provider in PROVIDERS}
assert len(_BY_ID) == len(PROVIDERS), "provider ids must be unique"


class UnknownProviderError(LookupError):
    pass


def provider_get(provider_id: str) -> Provider:
    """The provider with this id, or UnknownProviderError."""
    try:
        return _BY_ID[provider_id]
    except KeyError:
        raise UnknownProviderError(f"No provider '{provider_id}'.") from None


def provider_choices() -> list[tuple[str, str]]:
    return [(provider.id, provider.name) for provider in PROVIDERS]
