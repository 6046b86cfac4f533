import json

import pytest
from django.http import QueryDict

from sandbox.magento.endpoints import ORDER_COLUMNS
from sandbox.magento.loader import load_records
from sandbox.magento.models import Order
from sandbox.magento.search import parse_search_criteria, search


def _order(entity_id, *, email, status, total, updated, firstname="Jane"):
    return {
        "entity_id": entity_id,
        "increment_id": f"{entity_id:09d}",
        "customer_email": email,
        "customer_firstname": firstname,
        "status": status,
        "state": "processing" if status == "processing" else "new",
        "grand_total": total,
        "base_grand_total": total,
        "applied_rule_ids": "1,3" if entity_id % 2 else "",
        "created_at": updated,
        "updated_at": updated,
        "items": [],
    }


@pytest.fixture
def orders(stores):
    a, b = stores
    load_records(
        account=a.code,
        data=[
            _order(10, email="ann@example.com", status="pending", total=10, updated="2024-01-01 10:00:00"),
            _order(11, email="bob@example.com", status="processing", total=25.5, updated="2024-01-02 10:00:00"),
            _order(12, email="cy@example.org", status="processing", total=99.99, updated="2024-01-03 10:00:00"),
            _order(13, email="di@example.org", status="canceled", total=150, updated="2024-01-04 10:00:00"),
            _order(14, email="ed@example.net", status="complete", total=7, updated="2024-01-05 10:00:00"),
        ],
    )
    # Store B holds a record that matches every filter below; it must never show up in A's answers.
    load_records(
        account=b.code,
        data=[_order(12, email="cy@example.org", status="processing", total=99.99, updated="2024-01-03 10:00:00")],
    )
    return a


def ids(response):
    assert response.status_code == 200, response.text
    return [item["entity_id"] for item in response.json()["items"]]


def f(group, index, field, value, condition=None, camel=False):
    groups, cond = ("filterGroups", "conditionType") if camel else ("filter_groups", "condition_type")
    pairs = [
        (f"searchCriteria[{groups}][{group}][filters][{index}][field]", field),
        (f"searchCriteria[{groups}][{group}][filters][{index}][value]", value),
    ]
    if condition:
        pairs.append((f"searchCriteria[{groups}][{group}][filters][{index}][{cond}]", condition))
    return pairs


def asc(field="entity_id"):
    return [("searchCriteria[sortOrders][0][field]", field), ("searchCriteria[sortOrders][0][direction]", "ASC")]


@pytest.mark.parametrize("camel", [False, True])
def test_updated_at_gt_in_both_spellings(orders, camel):
    response = orders.search("orders", *f(0, 0, "updated_at", "2024-01-03 10:00:00", "gt", camel), *asc())
    assert ids(response) == [13, 14]
    assert response.json()["total_count"] == 2


def test_filters_in_one_group_are_ored_and_groups_are_anded(orders):
    response = orders.search(
        "orders",
        *f(0, 0, "status", "processing"),
        *f(0, 1, "status", "pending"),
        *f(1, 0, "grand_total", "20", "gt"),
        *asc(),
    )
    # Order 3 (the documented one) is pending at 165: it matches both groups too.
    assert ids(response) == [3, 11, 12]


@pytest.mark.parametrize(
    ("field", "value", "condition", "expected"),
    [
        ("status", "processing", "eq", [11, 12]),
        ("status", "processing", None, [11, 12]),
        ("status", "processing", "neq", [10, 13, 14]),
        ("grand_total", "25.5", "gteq", [11, 12, 13]),
        ("grand_total", "25.5", "lt", [10, 14]),
        ("grand_total", "25.5", "lteq", [10, 11, 14]),
        ("grand_total", "99.99", "moreq", [12, 13]),
        ("entity_id", "11,13", "in", [11, 13]),
        ("entity_id", "11,13", "nin", [10, 12, 14]),
        ("customer_email", "%@example.org", "like", [12, 13]),
        ("customer_email", "%@EXAMPLE.ORG", "nlike", [10, 11, 14]),
        ("updated_at", "2024-01-04 10:00:00", "from", [13, 14]),
        ("updated_at", "2024-01-02 10:00:00", "to", [10, 11]),
        ("applied_rule_ids", "3", "finset", [11, 13]),
        ("customer_firstname", "Jane", "eq", [10, 11, 12, 13, 14]),
    ],
)
def test_condition_types(orders, field, value, condition, expected):
    # The second group keeps the documented order 3 (also in store A) out of the way.
    response = orders.search("orders", *f(0, 0, field, value, condition), *f(1, 0, "entity_id", "10", "gteq"), *asc())
    assert ids(response) == expected


def test_from_and_to_in_separate_groups_make_a_range(orders):
    response = orders.search(
        "orders",
        *f(0, 0, "updated_at", "2024-01-02 00:00:00", "from"),
        *f(1, 0, "updated_at", "2024-01-04 00:00:00", "to"),
        *asc(),
    )
    assert ids(response) == [11, 12]


def test_null_and_notnull(orders):
    load_records(
        account=orders.code,
        data={
            **_order(15, email="x@example.com", status="pending", total=1, updated="2024-01-06 00:00:00"),
            "customer_id": None,
        },
    )
    load_records(
        account=orders.code,
        data={
            **_order(16, email="y@example.com", status="pending", total=1, updated="2024-01-06 00:00:00"),
            "customer_id": 4,
        },
    )
    assert 15 in ids(orders.search("orders", *f(0, 0, "customer_id", "", "null"), *asc()))
    assert ids(orders.search("orders", *f(0, 0, "customer_id", "", "notnull"), *asc())) == [3, 16]


def test_fields_read_from_the_document_compare_alike_on_every_database(orders):
    # customer_firstname and base_grand_total have no column: they are read from the stored JSON. A JSON null is
    # null (as MySQL's NULL column is), and a number compares by its text for eq.
    load_records(
        account=orders.code,
        data={
            **_order(15, email="x@example.com", status="pending", total=1, updated="2024-01-06 00:00:00"),
            "customer_firstname": None,
        },
    )
    base = [*f(1, 0, "entity_id", "10", "gteq"), *asc()]
    assert ids(orders.search("orders", *f(0, 0, "customer_firstname", "", "null"), *base)) == [15]
    assert ids(orders.search("orders", *f(0, 0, "customer_firstname", "", "notnull"), *base)) == [10, 11, 12, 13, 14]
    assert ids(orders.search("orders", *f(0, 0, "customer_firstname", "Jane", "neq"), *base)) == []
    assert ids(orders.search("orders", *f(0, 0, "base_grand_total", "25.5"), *base)) == [11]
    assert ids(orders.search("orders", *f(0, 0, "base_grand_total", "25.5", "gt"), *base)) == [12, 13]


def test_sorting_defaults_to_desc_and_can_use_any_column(orders):
    response = orders.search(
        "orders", *f(0, 0, "entity_id", "10", "gteq"), ("searchCriteria[sortOrders][0][field]", "grand_total")
    )
    assert ids(response) == [13, 12, 11, 10, 14]
    assert response.json()["search_criteria"]["sort_orders"] == [{"field": "grand_total", "direction": "DESC"}]


def test_paging_total_count_and_page_past_the_end(orders):
    base = [*f(0, 0, "entity_id", "10", "gteq"), *asc()]
    first = orders.search("orders", *base, ("searchCriteria[pageSize]", "2"), ("searchCriteria[currentPage]", "1"))
    second = orders.search("orders", *base, ("searchCriteria[pageSize]", "2"), ("searchCriteria[currentPage]", "2"))
    third = orders.search("orders", *base, ("searchCriteria[pageSize]", "2"), ("searchCriteria[currentPage]", "3"))
    beyond = orders.search("orders", *base, ("searchCriteria[pageSize]", "2"), ("searchCriteria[currentPage]", "9"))
    assert ids(first) == [10, 11] and ids(second) == [12, 13] and ids(third) == [14]
    assert ids(beyond) == []
    assert {r.json()["total_count"] for r in (first, second, third, beyond)} == {5}


def test_pages_of_a_sort_with_ties_hold_every_match_once_in_order(stores, orders):
    # Three more orders updated at the same moment as order 12: the store's own order breaks the tie on every page.
    same = "2024-01-03 10:00:00"
    load_records(
        account=stores[0].code,
        data=[_order(n, email=f"t{n}@example.com", status="pending", total=1, updated=same) for n in (20, 21, 22)],
    )
    pages = [
        ids(
            orders.search(
                "orders",
                *f(0, 0, "entity_id", "10", "gteq"),
                *asc("updated_at"),
                ("searchCriteria[pageSize]", "3"),
                ("searchCriteria[currentPage]", str(page)),
            )
        )
        for page in (1, 2, 3)
    ]
    assert pages == [[10, 11, 12], [20, 21, 22], [13, 14]]


def test_without_page_size_every_match_is_returned(orders):
    assert len(ids(orders.search("orders", *f(0, 0, "entity_id", "0", "gt")))) == 6


def test_search_criteria_is_echoed_in_snake_case(orders):
    response = orders.search(
        "orders",
        *f(0, 0, "status", "pending", "eq", camel=True),
        ("searchCriteria[pageSize]", "3"),
        ("searchCriteria[currentPage]", "1"),
    )
    assert response.json()["search_criteria"] == {
        "filter_groups": [{"filters": [{"field": "status", "value": "pending", "condition_type": "eq"}]}],
        "page_size": 3,
        "current_page": 1,
    }
    assert set(response.json()) == {"items", "search_criteria", "total_count"}


def test_missing_search_criteria_is_required(orders):
    response = orders.get("orders")
    assert response.status_code == 400
    assert response.json() == {
        "message": '"%fieldName" is required. Enter and try again.',
        "parameters": {"fieldName": "searchCriteria"},
    }


def test_a_page_above_the_input_limit_is_refused_and_the_limit_itself_is_served(orders):
    too_big = orders.search("orders", *f(0, 0, "entity_id", "0", "gt"), ("searchCriteria[pageSize]", "301"))
    assert too_big.status_code == 400
    assert too_big.json() == {"message": "Maximum SearchCriteria pageSize is %max", "parameters": {"max": 300}}
    largest = orders.search("orders", *f(0, 0, "entity_id", "0", "gt"), ("searchCriteria[pageSize]", "300"))
    assert largest.status_code == 200 and len(ids(largest)) == 6


def test_unknown_condition_type_is_refused(orders):
    response = orders.search("orders", *f(0, 0, "status", "x", "resembles"))
    assert response.status_code == 400


def test_customers_search_by_email_and_lastname(stores):
    a, _ = stores
    response = a.search("customers/search", *f(0, 0, "email", "jdoe@example.com"))
    assert [c["id"] for c in response.json()["items"]] == [2]
    assert a.search("customers/search", *f(0, 0, "lastname", "Nobody")).json()["total_count"] == 0


def test_a_page_and_its_total_are_read_in_two_statements_of_the_documents_alone(orders, django_assert_num_queries):
    query = QueryDict(mutable=True)
    for key, value in [*f(0, 0, "entity_id", "10", "gteq"), *asc(), ("searchCriteria[pageSize]", "2")]:
        query[key] = value
    criteria = parse_search_criteria(query)
    store_orders = Order.objects.filter(store__code=orders.code)
    with django_assert_num_queries(2):
        total, rows = search(store_orders, criteria, ORDER_COLUMNS, default_order="pk")
    assert total == 5
    assert [json.loads(document)["entity_id"] for (document,) in rows] == [10, 11]
    criteria.current_page = 9
    with django_assert_num_queries(2):  # past the end: no row carries the total, which is counted on its own
        assert search(store_orders, criteria, ORDER_COLUMNS, default_order="pk") == (5, [])
