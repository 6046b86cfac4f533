"""An organisation's reference data (accounts, tax rates with their components, currencies, active tracking
categories with their options), kept by the process between requests while the database holds exactly those rows
(core.kept).

Every batch of invoices or payments reads them, and reading them costs six queries and two prefetches. Nothing
writes through the instances (the settings services read and save their own), so requests can share them.
"""

from dataclasses import dataclass

from django.db import connection

from core.kept import KeptReads
from sandbox.xero.models import (
    Account,
    Currency,
    Organisation,
    TaxComponent,
    TaxRate,
    TrackingCategory,
    TrackingOption,
)


@dataclass(frozen=True)
class Reference:
    accounts: list[Account]  # by primary key
    tax_rates: dict[str, TaxRate]  # by TaxType, the lowest primary key of a type winning; components prefetched
    currency_codes: frozenset[str]
    tracking: list[TrackingCategory]  # the ACTIVE categories by primary key; options prefetched


def _sources() -> list[str]:
    account, rate, component, currency, category, option = (
        connection.ops.quote_name(m._meta.db_table)
        for m in (Account, TaxRate, TaxComponent, Currency, TrackingCategory, TrackingOption)
    )
    return [
        f"FROM {account} r WHERE r.org_id = %s",
        f"FROM {rate} r WHERE r.org_id = %s",
        f"FROM {component} r JOIN {rate} t ON t.id = r.tax_rate_id WHERE t.org_id = %s",
        f"FROM {currency} r WHERE r.org_id = %s",
        f"FROM {category} r WHERE r.org_id = %s",
        f"FROM {option} r JOIN {category} t ON t.id = r.category_id WHERE t.org_id = %s",
    ]


# Organisations whose reference data a process keeps (a drain serves one; a web worker a few).
_kept = KeptReads(_sources, keep=64)


def reference_get(*, org: Organisation) -> Reference | None:
    """The organisation's reference data as the database holds it now; None where there is no digest to check
    it with (not PostgreSQL): the caller reads it itself."""
    if connection.vendor != "postgresql":
        return None
    return _kept.get(org.pk, lambda: _read(org))


def _read(org: Organisation) -> Reference:
    rates = TaxRate.objects.filter(org=org).prefetch_related("components").order_by("-pk")
    return Reference(
        accounts=list(Account.objects.filter(org=org).order_by("pk")),
        tax_rates={r.tax_type: r for r in rates},  # lowest pk wins, as .first() would
        currency_codes=frozenset(org.currencies.values_list("code", flat=True)),
        tracking=list(
            TrackingCategory.objects.filter(org=org, status="ACTIVE").prefetch_related("options").order_by("pk")
        ),
    )
