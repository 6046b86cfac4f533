"""An organisation's reference data (accounts, tax rates with their components, currencies), kept by the process
between requests and used only while the database holds exactly those rows.

Every batch of invoices or payments reads them, and reading them costs four queries and a prefetch. Here a request
asks PostgreSQL for a digest of the rows instead (one statement over a few dozen rows: the text of every column of
every row, so any change by any process, committed or made earlier in the caller's transaction, changes it) and
reads them again only when it differs from the one they were read with. Nothing writes through the instances
(the settings services read and save their own), so requests can share them. Other databases read them per
request, as before.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.db import connection

from sandbox.xero.models import Account, Currency, Organisation, TaxComponent, TaxRate

# Organisations whose reference data a process keeps (a drain serves one; a web worker a few).
KEPT = 64


@dataclass(frozen=True)
class Reference:
    accounts: list[Account]  # by primary key
    tax_rates: dict[str, TaxRate]  # by TaxType, the lowest primary key of a type winning; components prefetched
    currency_codes: frozenset[str]


_lock = threading.Lock()
_kept: "OrderedDict[int, tuple[str, Reference]]" = OrderedDict()


def reference_get(*, org: Organisation) -> Reference | None:
    """The organisation's reference data as the database holds it now; None where there is no digest to check
    it with (not PostgreSQL): the caller reads it itself."""
    if connection.vendor != "postgresql":
        return None
    digest = _digest(org)
    with _lock:
        kept = _kept.get(org.pk)
        if kept is not None and kept[0] == digest:
            _kept.move_to_end(org.pk)
            return kept[1]
    reference = _read(org)
    # Read after the digest: a change committed in between makes the next request read again, never keeps a
    # stale set (the digest kept is the older one).
    with _lock:
        _kept[org.pk] = (digest, reference)
        _kept.move_to_end(org.pk)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return reference


def _read(org: Organisation) -> Reference:
    rates = TaxRate.objects.filter(org=org).prefetch_related("components").order_by("-pk")
    return Reference(
        accounts=list(Account.objects.filter(org=org).order_by("pk")),
        tax_rates={r.tax_type: r for r in rates},  # lowest pk wins, as .first() would
        currency_codes=frozenset(org.currencies.values_list("code", flat=True)),
    )


def _digest(org: Organisation) -> str:
    if _DIGEST_SQL.get("sql") is None:
        quote = connection.ops.quote_name
        account, rate, component, currency = (
            quote(m._meta.db_table) for m in (Account, TaxRate, TaxComponent, Currency)
        )
        _DIGEST_SQL["sql"] = (
            "SELECT md5(concat_ws('|', "  # noqa: S608 - only table names are formatted in
            f"(SELECT string_agg(a::text, ',' ORDER BY a.id) FROM {account} a WHERE a.org_id = %s), "
            f"(SELECT string_agg(r::text, ',' ORDER BY r.id) FROM {rate} r WHERE r.org_id = %s), "
            f"(SELECT string_agg(c::text, ',' ORDER BY c.id) FROM {component} c "
            f"JOIN {rate} r ON r.id = c.tax_rate_id WHERE r.org_id = %s), "
            f"(SELECT string_agg(y::text, ',' ORDER BY y.id) FROM {currency} y WHERE y.org_id = %s)))"
        )
    with connection.cursor() as cursor:
        cursor.execute(_DIGEST_SQL["sql"], [org.pk] * 4)
        return cursor.fetchone()[0]


_DIGEST_SQL: dict[str, str | None] = {"sql": None}
