"""Paginators, one per paging style. Each yields records and stops on the style's own end signal.

They take any client with `get(path, params=…, headers=…)` returning an httpx.Response (a BaseClient), so every
page goes through the same retries, rate limiter and logging. A `max_pages` guard stops a remote that never
says "done" (Magento before 2.4 returned the last page again for an out-of-range page).

Each lets go of a page before it reads the next: held until the next one was decoded, two pages were alive at
once, which set a long read's peak memory (a page of 300 Magento orders is 8.5 MB of Python objects).
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import httpx

from core import jsonfast

DEFAULT_MAX_PAGES = 10_000


class PagingError(RuntimeError):
    pass


def magento_pages(
    client, path: str, *, params: Mapping | None = None, page_size: int = 100, max_pages: int = DEFAULT_MAX_PAGES
) -> Iterator[dict]:
    """Magento searchCriteria paging: `searchCriteria[pageSize]`/`[currentPage]` (1-based), `total_count`.

    Stops when currentPage × pageSize reaches total_count, or on an empty page.
    """
    page = 1
    while page <= max_pages:
        query = {**(params or {}), "searchCriteria[pageSize]": page_size, "searchCriteria[currentPage]": page}
        body = jsonfast.loads(client.get(path, params=query).content)
        items = body.get("items") or []
        yield from items
        total = int(body.get("total_count") or 0)
        if not items or page * page_size >= total:
            return
        body = items = None  # before the next page is read (see above)
        page += 1
    raise PagingError(f"{path}: more than {max_pages} pages")


def cin7_pages(
    client,
    path: str,
    *,
    list_key: str,
    params: Mapping | None = None,
    limit: int = 1000,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[dict]:
    """Cin7 Core paging: `page` (1-based) and `limit` (≤ 1000); the body holds `<list_key>` and `Total`."""
    limit = max(1, min(limit, 1000))
    page = 1
    while page <= max_pages:
        body = jsonfast.loads(client.get(path, params={**(params or {}), "page": page, "limit": limit}).content)
        items = body.get(list_key) or []
        yield from items
        total = body.get("Total")
        if not items or len(items) < limit or (total is not None and page * limit >= int(total)):
            return
        body = items = None  # before the next page is read (see above)
        page += 1
    raise PagingError(f"{path}: more than {max_pages} pages")


def gorgias_pages(
    client, path: str, *, params: Mapping | None = None, limit: int = 100, max_pages: int = DEFAULT_MAX_PAGES
) -> Iterator[dict]:
    """Gorgias cursor paging: `limit` (≤ 100) and `cursor`; the body holds `data` and `meta.next_cursor`."""
    limit = max(1, min(limit, 100))
    cursor = None
    seen = set()
    for _ in range(max_pages):
        query = {**(params or {}), "limit": limit}
        if cursor:
            query["cursor"] = cursor
        body = jsonfast.loads(client.get(path, params=query).content)
        yield from body.get("data") or []
        cursor = (body.get("meta") or {}).get("next_cursor")
        body = None  # before the next page is read (see above)
        if not cursor:
            return
        if cursor in seen:
            raise PagingError(f"{path}: the cursor repeated")
        seen.add(cursor)
    raise PagingError(f"{path}: more than {max_pages} pages")


def xero_pages(
    client,
    path: str,
    *,
    collection: str,
    params: Mapping | None = None,
    page_size: int = 1000,
    modified_since: datetime | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    decode: Callable[[httpx.Response], dict] = httpx.Response.json,
) -> Iterator[dict]:
    """Xero paging: `page` (1-based) and `pageSize` (≤ 1000), with `If-Modified-Since` for incremental reads.

    Uses `pagination.pageCount` when the response has it, else stops on a short page. `decode` reads a page's body
    (pass connections.providers.xero.accounting.parse where amounts must stay exact decimals).
    """
    page_size = max(1, min(page_size, 1000))
    headers = {}
    if modified_since is not None:
        # Xero's spec gives the header as an ISO 8601 date-time in UTC (not the HTTP-date format).
        headers["If-Modified-Since"] = modified_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = 1
    while page <= max_pages:
        response = client.get(path, params={**(params or {}), "page": page, "pageSize": page_size}, headers=headers)
        if response.status_code == 304:
            return
        body = decode(response)
        items = body.get(collection) or []
        yield from items
        page_count = (body.get("pagination") or {}).get("pageCount")
        if not items or (page_count is not None and page >= int(page_count)) or len(items) < page_size:
            return
        response = body = items = None  # before the next page is read (see above)
        page += 1
    raise PagingError(f"{path}: more than {max_pages} pages")
