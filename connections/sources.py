"""Source adapters: one object per source connection that reads, fetches, normalises and writes back.

The sync engine speaks to every source system through the same small API, so adding a source means writing one
adapter and one normaliser, not a new flow:

    adapter = source_adapter(connection)                      # or transport=SandboxTransport() in tests
    adapter.entities                                          # ("customer", "order", …) this source offers
    adapter.test()                                            # CheckResult(ok, message)
    for source_id, updated_at, native in adapter.changed("order", since=cursor): ...
    native = adapter.fetch("order", source_id)                # a webhook carried only the id
    order = adapter.normalize("order", native)                # canonical record (connections.canonical)
    adapter.order_mark_paid(source_id, amount=…, paid_at=…, reference=…)

Conventions every adapter keeps:
- `source_id` is a string that `fetch` accepts back and equals the canonical record's `source_id`. A record that
  lives inside another (a Cin7 credit note inside its sale, a Gorgias order inside its customer) has a composite
  id naming its parents, `"<parent>:<child>"`, so it can be fetched on its own.
- `native` is the source's own JSON. Where the source keeps something a record needs on its parent (the sale's
  currency for a Cin7 payment row, the order's payment method for a Magento invoice) the adapter adds it under one
  extra key, `"_context"`, and nothing else is changed.
- `changed` yields oldest first where the API can sort; `updated_at` is timezone-aware UTC (None when the source
  does not date that kind of record, e.g. stock levels). `since` is inclusive: a record updated exactly at the
  cursor comes again, and processing is idempotent downstream.
- HTTP calls are made outside any transaction.atomic() so the shared rate limiter's slots are visible to other
  workers; adapters hold no database transaction of their own.
- Write-backs a source cannot do raise ApplicationError with code "not_supported".
- Webhooks: `webhook_entity(kind)` names the entity a provider event kind is about ("Sale/OrderAuthorised" →
  "order") and `webhook_source_id(kind, body)` the id to fetch. `changed`, `fetch` and `normalize` also accept a
  provider event kind in place of the entity. Events that carry only a parent id (a Cin7 payment event names the
  sale) fetch the parent's most recent child: `fetch("payment", "<SaleID>")`.
- Refund amounts are in the order's tax basis, like canonical order lines (what mappings' credit note builder
  expects): tax-exclusive orders give line amounts and shipping without tax (the tax is on the line), tax-inclusive
  orders give them with tax. So refund.total == Σ line.amount + shipping + adjustment − fee, plus, for exclusive
  orders, the tax on the lines and shipping.
"""

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from connections.checks import CheckResult
from core.errors import ApplicationError

ENTITIES = ("customer", "order", "payment", "refund", "product", "stock")


def not_supported(provider_name: str, what: str) -> ApplicationError:
    return ApplicationError(f"{provider_name} does not support {what}.", code="not_supported")


class SourceAdapter:
    """Base of the per-provider adapters. Subclasses set `entities` and implement the read methods."""

    entities: tuple[str, ...] = ()
    provider_name = "This source"
    # Provider event kind -> entity it is about.
    webhook_kinds: dict[str, str] = {}

    def __init__(self, connection, *, client):
        self.connection = connection
        self.client = client

    # Reads ---------------------------------------------------------------------------------------------------

    def test(self) -> CheckResult:
        """One cheap authenticated call, answered in plain language (see connections.checks)."""
        raise NotImplementedError

    def changed(self, entity: str, *, since: datetime | None) -> Iterator[tuple[str, datetime | None, dict]]:
        """(source_id, updated_at, native record) for records of `entity` updated at or after `since` (None: all)."""
        raise NotImplementedError

    def fetch(self, entity: str, source_id: str) -> dict:
        """The full native record of `entity` with this source id (NotFoundError when the source has none)."""
        raise NotImplementedError

    def normalize(self, entity: str, native: dict):
        """The canonical record (connections.canonical) for a native record of `entity`."""
        raise NotImplementedError

    # Write-backs ---------------------------------------------------------------------------------------------

    def order_mark_paid(self, source_id: str, *, amount: Decimal, paid_at: datetime, reference: str) -> None:
        """Tell the source that the order was paid (in Xero): `amount` in the order currency, on `paid_at`."""
        raise not_supported(self.provider_name, "marking orders paid")

    def order_add_comment(self, source_id: str, *, comment: str, status: str | None = None) -> None:
        """Add a note to the order in the source, optionally moving it to `status`."""
        raise not_supported(self.provider_name, "order comments")

    def customer_find(self, *, email: str, phone: str) -> dict | None:
        """The native customer with this email, else with this phone (as its billing phone), else None."""
        raise not_supported(self.provider_name, "finding customers")

    def customer_save(self, contact, *, source_id: str | None = None) -> dict:
        """Create (source_id None) or update the customer from a canonical contact; returns the saved native record.

        An update changes the contact's fields and keeps everything else the source holds.
        """
        raise not_supported(self.provider_name, "writing customers")

    def stock_get(self, sku: str) -> Decimal | None:
        """The on-hand quantity of `sku` in the source, or None when the source has no such product."""
        raise not_supported(self.provider_name, "reading stock levels")

    def stock_set(self, sku: str, quantity: Decimal) -> bool:
        """Set the stock level of `sku` in the source (where another system is the inventory master).

        Returns whether anything was written (False when the source already had that quantity).
        """
        raise not_supported(self.provider_name, "setting stock levels")

    # Webhooks ------------------------------------------------------------------------------------------------

    def webhook_entity(self, kind: str) -> str | None:
        """The entity a webhook event kind is about (an entity name is itself), or None when it is about none."""
        if kind in self.entities:
            return kind
        return self.webhook_kinds.get(kind)

    def webhook_source_id(self, kind: str, body: dict) -> str:
        """The source id to fetch for a webhook event of `kind` with this body."""
        raise not_supported(self.provider_name, f"webhook events of kind '{kind}'")

    # Helpers -------------------------------------------------------------------------------------------------

    def _entity(self, entity: str) -> str:
        """The entity `entity` (or a webhook kind) names, refused with "not_supported" when this source lacks it."""
        resolved = self.webhook_entity(entity)
        if resolved is None or resolved not in self.entities:
            raise ApplicationError(
                f"{self.provider_name} has no {entity} records to read.",
                code="not_supported",
                extra={"entity": entity, "entities": list(self.entities)},
            )
        return resolved

    def close(self) -> None:
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def source_adapter(connection, *, transport=None, **client_options) -> SourceAdapter:
    """The adapter for a source connection (Magento, Cin7 Core, Gorgias).

    `transport` is an httpx transport (tests and the demo pass the sandbox's); `client_options` go to the
    provider's client (e.g. rate_limiter=False for a one-off script). Xero is a destination and REST partners push
    to us, so both raise ApplicationError "no_source_adapter".
    """
    provider = connection.provider
    if provider == "magento":
        from connections.providers.magento.adapter import MagentoAdapter as adapter_class
    elif provider == "cin7":
        from connections.providers.cin7.adapter import Cin7Adapter as adapter_class
    elif provider == "gorgias":
        from connections.providers.gorgias.adapter import GorgiasAdapter as adapter_class
    else:
        raise ApplicationError(
            f"'{provider}' connections are not read through a source adapter.",
            code="no_source_adapter",
            extra={"provider": provider},
        )
    return adapter_class.for_connection(connection, transport=transport, **client_options)
