from sandbox.cin7.loader import load_records


def test_smoke(client_a, account_a, lists_payload):
    print(load_records(account=account_a.account_id, data=lists_payload))
    r = client_a.get("customer")
    print(r.status_code, r.text[:300])
    r = client_a.get("saleList")
    print(r.status_code, r.text[:300])
    assert r.json()["SaleList"] == lists_payload["GET /saleList"]["SaleList"]
    assert client_a.get("ref/tax").json() == lists_payload["GET /ref/tax"]
    assert client_a.get("customer").json() == lists_payload["GET /customer"]
    assert client_a.get("saleCreditNoteList").json() == lists_payload["GET /saleCreditNoteList"]
    assert client_a.get("webhooks").json() == lists_payload["GET /webhooks"]
    assert client_a.get("product").json() == lists_payload["POST /product (response)"]
    assert client_a.get("ref/productavailability").json() == lists_payload["GET /ref/productavailability"]
    r = client_a.get("sale/payment", params={"SaleID": "916ab4c0-6ccb-4c93-873d-0603859050e4"})
    assert r.json() == lists_payload["GET /sale/payment?SaleID="], r.text
