import json
from io import StringIO

from django.core.management import call_command

from sandbox.magento.loader import load_records
from sandbox.magento.models import Store as MagentoStore
from sandbox.magento.services import store_credentials
from tests.sandbox.magento.conftest import LOCAL_PAYLOADS as PAYLOAD_DIR
from tests.sandbox.magento.conftest import Store, payload

NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."


def test_documented_order_comes_back_identical_in_content_and_key_order(stores):
    a, _ = stores
    response = a.get("orders/3")
    assert response.status_code == 200
    assert response.json() == payload("magento_order.json")
    assert list(response.json()) == list(payload("magento_order.json"))


def test_documented_customer_comes_back_identical(stores):
    a, _ = stores
    response = a.get("customers/2")
    assert response.json() == payload("magento_customer.json")
    assert response.json()["default_billing"] == "2"


def test_store_code_default_all_and_none_reach_the_token_store(stores):
    a, _ = stores
    for prefix in ("/sandbox/magento/rest/default/V1/", "/sandbox/magento/rest/all/V1/", "/sandbox/magento/rest/V1/"):
        assert a.client.get(prefix + "orders/3").json()["entity_id"] == 3


def test_one_store_never_sees_another_stores_records(stores):
    a, b = stores
    assert b.get("orders/3").status_code == 404
    assert b.search("orders", **{"searchCriteria[pageSize]": 10}).json()["total_count"] == 0
    assert b.search("customers/search", **{"searchCriteria[pageSize]": 10}).json()["total_count"] == 0
    assert a.search("orders", **{"searchCriteria[pageSize]": 10}).json()["total_count"] == 1


def test_missing_records_answer_magentos_404_bodies(stores):
    a, _ = stores
    assert a.get("orders/999").json() == {"message": NOT_FOUND}
    assert a.get("invoices/999").json() == {"message": NOT_FOUND}
    assert a.get("creditmemo/999").json() == {"message": NOT_FOUND}
    customer = a.get("customers/999")
    assert customer.status_code == 404
    assert customer.json() == {
        "message": "No such entity with %fieldName = %fieldValue",
        "parameters": {"fieldName": "customerId", "fieldValue": "999"},
    }
    product = a.get("products/NOPE")
    assert product.status_code == 404
    assert product.json() == {
        "message": "The product that was requested doesn't exist. Verify the product and try again."
    }


def test_non_numeric_id_is_a_type_error(stores):
    a, _ = stores
    response = a.get("orders/abc")
    assert response.status_code == 400
    assert response.json()["parameters"] == {"value": "abc", "type": "int"}


def test_creditmemo_single_path_is_singular_and_plural_is_not_a_route(stores):
    a, _ = stores
    assert a.get("creditmemos/1").status_code == 404
    assert a.get("creditmemos/1").json() == {"message": "Request does not match any route."}


def test_loader_accepts_a_search_response_and_detects_every_kind(stores):
    _, b = stores
    order = payload("magento_order.json")
    invoice = {
        "entity_id": 7,
        "increment_id": "000000007",
        "order_id": 3,
        "state": 2,
        "grand_total": 165,
        "total_qty": 1,
        "created_at": "2020-07-23 16:59:20",
        "updated_at": "2020-07-23 16:59:21",
        "items": [{"order_item_id": 3, "qty": 1, "sku": "WS12-M-Orange"}],
        "comments": [],
    }
    memo = {**invoice, "entity_id": 8, "adjustment_positive": 0, "adjustment_negative": 5, "invoice_id": 7}
    memo.pop("total_qty")
    product = {"id": 1553, "sku": "WS12-M-Orange", "type_id": "simple", "price": 22, "attribute_set_id": 4}
    counts = load_records(
        account=b.code,
        data={"items": [order, invoice, memo, product], "search_criteria": {}, "total_count": 4},
    )
    assert counts == {"orders": 1, "invoices": 1, "creditmemos": 1, "products": 1}
    assert b.get("invoices/7").json() == invoice
    assert b.get("creditmemo/8").json() == memo
    assert b.get("products/WS12-M-Orange").json() == product


def test_sandbox_load_command_loads_the_documented_order_into_a_new_store(stores):
    out = StringIO()
    call_command("sandbox_load", "magento", "store-c", str(PAYLOAD_DIR / "magento_order.json"), stdout=out)
    assert json.loads(out.getvalue())["orders"] == 1
    c = Store(store_credentials(store=MagentoStore.objects.get(code="store-c")))
    assert c.get("orders/3").json() == payload("magento_order.json")


def test_fields_parameter_trims_the_answer(stores):
    a, _ = stores
    response = a.get("orders", **{"searchCriteria[pageSize]": 5, "fields": "items[increment_id,entity_id],total_count"})
    assert response.json() == {"items": [{"increment_id": "000000003", "entity_id": 3}], "total_count": 1}
