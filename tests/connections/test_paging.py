"""Each paginator walks every page and stops on its style's end signal."""

from datetime import UTC, datetime

import httpx
import pytest

from connections.paging import PagingError, cin7_pages, gorgias_pages, magento_pages, xero_pages
from connections.providers.cin7.client import Cin7Client
from connections.providers.gorgias.client import GorgiasClient
from connections.providers.magento.client import MagentoClient
from connections.providers.xero.client import XeroClient


def client_for(cls, handler, **kwargs):
    seen = []

    def record(request):
        seen.append(request)
        return handler(request)

    client = cls(
        credentials={"access_token": "t", "application_key": "k", "username": "u", "api_key": "k"},
        base_url="https://remote.example.com/api",
        transport=httpx.MockTransport(record),
        **kwargs,
    )
    return client, seen


def test_magento_search_criteria_until_total_count():
    records = [{"entity_id": n} for n in range(1, 8)]

    def handler(request):
        size = int(request.url.params["searchCriteria[pageSize]"])
        page = int(request.url.params["searchCriteria[currentPage]"])
        assert request.url.params["searchCriteria[filter_groups][0][filters][0][field]"] == "updated_at"
        # Magento before 2.4 answered an out-of-range page with the last page again: we must never ask for one.
        return httpx.Response(
            200,
            json={
                "items": records[(page - 1) * size : page * size],
                "search_criteria": {},
                "total_count": len(records),
            },
        )

    client, seen = client_for(MagentoClient, handler)
    params = {"searchCriteria[filter_groups][0][filters][0][field]": "updated_at"}
    got = list(magento_pages(client, "V1/orders", params=params, page_size=3))
    assert got == records
    assert len(seen) == 3


def test_cin7_page_and_limit_until_total():
    records = [{"SaleID": str(n)} for n in range(5)]

    def handler(request):
        limit, page = int(request.url.params["limit"]), int(request.url.params["page"])
        return httpx.Response(
            200, json={"SaleList": records[(page - 1) * limit : page * limit], "Total": 5, "Page": page}
        )

    client, seen = client_for(Cin7Client, handler)
    assert list(cin7_pages(client, "saleList", list_key="SaleList", limit=2)) == records
    assert [r.url.params["page"] for r in seen] == ["1", "2", "3"]
    # An exact multiple stops on Total without asking for an empty page.
    seen.clear()
    assert len(list(cin7_pages(client, "saleList", list_key="SaleList", limit=5))) == 5
    assert len(seen) == 1


def test_gorgias_cursor_until_next_cursor_is_null():
    pages = {None: ([1, 2], "c2"), "c2": ([3, 4], "c3"), "c3": ([5], None)}

    def handler(request):
        data, nxt = pages[request.url.params.get("cursor")]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"id": i} for i in data],
                "meta": {"prev_cursor": None, "next_cursor": nxt},
            },
        )

    client, seen = client_for(GorgiasClient, handler)
    assert [c["id"] for c in gorgias_pages(client, "customers", limit=2)] == [1, 2, 3, 4, 5]
    assert [r.url.params.get("cursor") for r in seen] == [None, "c2", "c3"]


def test_gorgias_repeating_cursor_is_an_error_not_a_loop():
    def handler(request):
        return httpx.Response(200, json={"data": [{"id": 1}], "meta": {"next_cursor": "same"}})

    client, _ = client_for(GorgiasClient, handler)
    with pytest.raises(PagingError):
        list(gorgias_pages(client, "customers"))


def test_xero_page_and_page_size_with_if_modified_since():
    contacts = [{"ContactID": str(n)} for n in range(2500)]
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def handler(request):
        assert request.headers["If-Modified-Since"] == "2026-03-01T12:00:00Z"
        size, page = int(request.url.params["pageSize"]), int(request.url.params["page"])
        assert size == 1000
        return httpx.Response(200, json={"Contacts": contacts[(page - 1) * size : page * size]})

    client, seen = client_for(XeroClient, handler)
    got = list(xero_pages(client, "Contacts", collection="Contacts", page_size=5000, modified_since=since))
    assert len(got) == 2500 and got[-1] == {"ContactID": "2499"}
    assert len(seen) == 3


def test_xero_stops_on_page_count_when_given():
    def handler(request):
        page = int(request.url.params["page"])
        return httpx.Response(
            200,
            json={
                "Invoices": [{"n": page}] * 2,
                "pagination": {"page": page, "pageSize": 2, "pageCount": 2, "itemCount": 4},
            },
        )

    client, seen = client_for(XeroClient, handler)
    assert len(list(xero_pages(client, "Invoices", collection="Invoices", page_size=2))) == 4
    assert len(seen) == 2


@pytest.mark.django_db
def test_magento_paging_against_the_sandbox(world):
    """The same paginator over the Magento simulator, through its in-process transport."""
    pytest.importorskip("sandbox.magento")
    from sandbox.magento.loader import load_records
    from sandbox.magento.services import store_create
    from sandbox.transport import SandboxTransport

    store = store_create(code="paging-store", currency="USD")
    customer = {
        "group_id": 1,
        "created_at": "2026-01-02 03:04:05",
        "updated_at": "2026-01-02 03:04:05",
        "lastname": "Buyer",
        "store_id": 1,
        "website_id": 1,
        "addresses": [],
    }
    load_records(
        account="paging-store",
        data=[{**customer, "id": 900 + n, "email": f"c{n}@example.com", "firstname": f"C{n}"} for n in range(5)],
    )
    client = MagentoClient(
        credentials={"access_token": store["access_token"]},
        base_url="http://testserver" + store["base_path"].rstrip("/"),
        transport=SandboxTransport(),
    )
    first = client.get("V1/customers/search", params={"searchCriteria[pageSize]": 2}).json()
    got = list(magento_pages(client, "V1/customers/search", page_size=2))
    assert first["total_count"] == 5
    assert len(got) == first["total_count"]
    assert len({c["id"] for c in got}) == len(got)
