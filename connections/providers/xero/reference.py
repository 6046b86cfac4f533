"""Xero reference data: fetched per connection, cached, and read through one object with finders."""

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.db import transaction
from django.utils import timezone

from connections.models import Connection, XeroReferenceData
from connections.paging import xero_pages
from core.errors import ApplicationError
from core.money import UNIT_PRICE_4DP, from_json_number, quantize

Kind = XeroReferenceData.Kind

# (kind, path, collection key in Xero's answer, paged)
SOURCES = (
    (Kind.ORGANISATION, "Organisation", "Organisations", False),
    (Kind.TAX_RATES, "TaxRates", "TaxRates", False),
    (Kind.ACCOUNTS, "Accounts", "Accounts", False),
    (Kind.TRACKING_CATEGORIES, "TrackingCategories", "TrackingCategories", False),
    (Kind.CURRENCIES, "Currencies", "Currencies", False),
    (Kind.ITEMS, "Items", "Items", False),
    (Kind.CONTACT_GROUPS, "ContactGroups", "ContactGroups", False),
)


def xero_reference_refresh(*, connection: Connection, client) -> dict[str, int]:
    """Fetch every kind of reference data from Xero and replace the cache; returns how many of each were stored.

    Calls are made before the transaction that writes the cache, so the rate limiter's slots stay visible to
    other workers.
    """
    fetched = {}
    for kind, path, collection, paged in SOURCES:
        if paged:
            fetched[kind] = list(xero_pages(client, path, collection=collection))
        else:
            fetched[kind] = client.get(path).json().get(collection) or []
    now = timezone.now()
    with transaction.atomic():
        for kind, data in fetched.items():
            value = (data[0] if data else {}) if kind == Kind.ORGANISATION else data
            XeroReferenceData.objects.update_or_create(
                tenant_id=connection.tenant_id,
                connection=connection,
                kind=kind,
                defaults={"data": value, "fetched_at": now},
            )
    return {kind.value: (1 if kind == Kind.ORGANISATION else len(data)) for kind, data in fetched.items()}


def xero_reference_items_merge(*, connection: Connection, items: list[dict]) -> None:
    """Put items just saved in Xero (Xero's answer) into the cached list, replacing older copies.

    Invoices send an ItemCode only for items the cache knows; without this, the items our own product sync creates
    would stay unknown, and their codes off every invoice, until someone refreshed the Xero settings.
    """
    items = [item for item in items if item.get("Code")]
    if not items:
        return
    with transaction.atomic():
        row = XeroReferenceData.objects.select_for_update().filter(connection=connection, kind=Kind.ITEMS).first()
        if row is None:
            return  # never fetched: the first refresh reads every item
        saved = {item.get("ItemID") or item["Code"] for item in items}
        kept = [item for item in row.data or [] if (item.get("ItemID") or item.get("Code")) not in saved]
        row.data = kept + items
        row.save(update_fields=["data"])


@dataclass(frozen=True)
class XeroReference:
    """A tenant's cached Xero settings. Lists are Xero's own JSON objects."""

    organisation: dict
    tax_rates: list[dict]
    accounts: list[dict]
    tracking_categories: list[dict]
    currencies: list[dict]
    items: list[dict]
    contact_groups: list[dict]
    fetched_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return self.fetched_at is None

    def tax_rate(self, tax_type: str) -> dict | None:
        return self._tax_rates_by_type.get(tax_type)

    def account(self, code: str) -> dict | None:
        return self._accounts_by_code.get(code)

    def tracking_category(self, name: str) -> dict | None:
        return self._tracking_categories_by_name.get(name)

    # Every line of every payload looks up its account and tax rate: by key, not by a scan of the organisation's
    # chart of accounts. The first of two entries with one key is the one found, as a scan found it.

    @cached_property
    def _tax_rates_by_type(self) -> dict[str, dict]:
        return _first_by(self.tax_rates, "TaxType")

    @cached_property
    def _accounts_by_code(self) -> dict[str, dict]:
        return _first_by(self.accounts, "Code")

    @cached_property
    def _tracking_categories_by_name(self) -> dict[str, dict]:
        return _first_by(self.tracking_categories, "Name")

    def active_tax_rates(self) -> list[dict]:
        return [rate for rate in self.tax_rates if rate.get("Status") == "ACTIVE"]

    def active_accounts(self) -> list[dict]:
        return [account for account in self.accounts if account.get("Status") == "ACTIVE"]

    def active_tracking_categories(self) -> list[dict]:
        return [c for c in self.tracking_categories if c.get("Status") == "ACTIVE"]


def _first_by(entries: list[dict], key: str) -> dict:
    found = {}
    for entry in entries:
        found.setdefault(entry.get(key), entry)
    return found


def xero_reference_get(*, connection: Connection) -> XeroReference:
    """The cached reference data of a Xero connection (empty lists when never fetched). Needs the tenant's scope."""
    rows = {row.kind: row for row in XeroReferenceData.objects.filter(connection=connection)}

    def data(kind, default):
        row = rows.get(kind)
        return row.data if row is not None else default

    fetched = [row.fetched_at for row in rows.values()]
    return XeroReference(
        organisation=data(Kind.ORGANISATION, {}),
        tax_rates=data(Kind.TAX_RATES, []),
        accounts=data(Kind.ACCOUNTS, []),
        tracking_categories=data(Kind.TRACKING_CATEGORIES, []),
        currencies=data(Kind.CURRENCIES, []),
        items=data(Kind.ITEMS, []),
        contact_groups=data(Kind.CONTACT_GROUPS, []),
        fetched_at=min(fetched) if fetched else None,
    )


def xero_reference_refresh_connection(*, connection: Connection, transport=None) -> dict[str, int]:
    """Refresh an active Xero connection's cache with its own client (needs the tenant's scope).

    Raises ApplicationError for another provider or a connection that is not active.
    """
    from connections.providers.xero.tokens import xero_client_for

    if connection.provider != "xero":
        raise ApplicationError("Only Xero connections have Xero settings to read.", code="not_xero")
    if connection.status != Connection.Status.ACTIVE:
        raise ApplicationError(
            f"{connection.display_name} is {connection.get_status_display().lower()}; reconnect it first.",
            code="connection_not_active",
        )
    with xero_client_for(connection, transport=transport) as client:
        return xero_reference_refresh(connection=connection, client=client)


def _decimal_text(value) -> str | None:
    if value is None:
        return None
    try:
        # Xero keeps rates to 4 dp; a fixed scale reads the same whatever the JSON number looked like.
        return str(quantize(from_json_number(value), UNIT_PRICE_4DP))
    except (TypeError, ValueError):
        return None


def xero_reference_summary(*, connection: Connection) -> dict:
    """What mapping screens choose from: the cached tax rates, accounts, tracking categories with their options,
    and currencies, in a small stable shape (rates as decimal strings). Needs the tenant's scope."""
    reference = xero_reference_get(connection=connection)
    organisation = reference.organisation or {}
    return {
        "fetched_at": reference.fetched_at,
        "organisation": {
            "name": organisation.get("Name", ""),
            "country": organisation.get("CountryCode", ""),
            "base_currency": organisation.get("BaseCurrency", ""),
        },
        "tax_rates": [
            {
                "tax_type": rate.get("TaxType", ""),
                "name": rate.get("Name", ""),
                "effective_rate": _decimal_text(rate.get("EffectiveRate")),
                "status": rate.get("Status", ""),
            }
            for rate in reference.tax_rates
        ],
        "accounts": [
            {
                "account_id": account.get("AccountID", ""),
                "code": account.get("Code", ""),
                "name": account.get("Name", ""),
                "type": account.get("Type", ""),
                "tax_type": account.get("TaxType", ""),
                "status": account.get("Status", ""),
                "enable_payments": bool(account.get("EnablePaymentsToAccount")),
            }
            for account in reference.accounts
        ],
        "tracking_categories": [
            {
                "tracking_category_id": category.get("TrackingCategoryID", ""),
                "name": category.get("Name", ""),
                "status": category.get("Status", ""),
                "options": [
                    {
                        "tracking_option_id": option.get("TrackingOptionID", ""),
                        "name": option.get("Name", ""),
                        "status": option.get("Status", ""),
                    }
                    for option in category.get("Options") or []
                ],
            }
            for category in reference.tracking_categories
        ],
        "currencies": [
            {"code": currency.get("Code", ""), "description": currency.get("Description", "")}
            for currency in reference.currencies
        ],
    }


def xero_reference_admin_html(*, connection: Connection):
    """The cached Xero settings as a read-only HTML block for the connection's admin page (tenant scope needed)."""
    from django.utils.html import format_html, format_html_join

    if connection.provider != "xero":
        return "—"
    summary = xero_reference_summary(connection=connection)
    if summary["fetched_at"] is None:
        return "Not read from Xero yet."
    rates = format_html_join(
        ", ", "{} {} ({}%)", ((r["tax_type"], r["name"], r["effective_rate"]) for r in summary["tax_rates"])
    )
    accounts = format_html_join(
        ", ", "{} {}", ((a["code"], a["name"]) for a in summary["accounts"] if a["status"] == "ACTIVE")
    )
    tracking = format_html_join(
        "; ",
        "{}: {}",
        ((c["name"], ", ".join(o["name"] for o in c["options"])) for c in summary["tracking_categories"]),
    )
    currencies = ", ".join(c["code"] for c in summary["currencies"])
    return format_html(
        "<p>Read {} from {} ({})</p><p><strong>Tax rates:</strong> {}</p><p><strong>Accounts:</strong> {}</p>"
        "<p><strong>Tracking:</strong> {}</p><p><strong>Currencies:</strong> {}</p>",
        summary["fetched_at"].strftime("%Y-%m-%d %H:%M UTC"),
        summary["organisation"]["name"],
        summary["organisation"]["base_currency"],
        rates,
        accounts,
        tracking,
        currencies,
    )
