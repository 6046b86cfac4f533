"""The org command, the creation service, reference data and the loader."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from sandbox.xero.loader import load_records
from sandbox.xero.services.orgs import organisation_create
from tests.sandbox.xero.conftest import Org


def _run(*args) -> dict:
    out = StringIO()
    call_command("sandbox_xero_org", *args, stdout=out)
    return json.loads(out.getvalue())


def test_command_prints_one_json_object_and_is_idempotent_by_name(db):
    first = _run("--name", "Demo Co", "--country", "NZ", "--json")
    for key in ("tenant_id", "client_id", "client_secret", "webhook_key", "access_token", "refresh_token"):
        assert first[key]
    assert first["base_currency"] == "NZD" and first["created"] is True
    again = _run("--name", "Demo Co", "--json")
    assert again["tenant_id"] == first["tenant_id"] and again["created"] is False
    assert again["client_id"] == first["client_id"]


@pytest.mark.parametrize(
    ("country", "tax_type", "rate"),
    [("AU", "OUTPUT", 10), ("GB", "OUTPUT2", 20), ("GB", "RROUTPUT", 5), ("NZ", "OUTPUT2", 15), ("US", "TAX001", 7.25)],
)
def test_each_country_gets_its_real_tax_rates(http, country, tax_type, rate):
    org = Org(organisation_create(name=f"Tax {country}", country=country), http)
    rates = {r["TaxType"]: r for r in org.get("TaxRates").json()["TaxRates"]}
    assert rates[tax_type]["EffectiveRate"] == rate
    assert org.get(f"TaxRates/{tax_type}").json()["TaxRates"][0]["TaxType"] == tax_type


def test_chart_tracking_currencies_and_organisation(org_a, org_b):
    accounts = {a["Code"]: a for a in org_a.get("Accounts").json()["Accounts"]}
    assert accounts["090"]["Type"] == "BANK" and accounts["200"]["Type"] == "REVENUE"
    assert accounts["615"]["EnablePaymentsToAccount"] is True and accounts["299"]["Status"] == "ARCHIVED"
    assert accounts["860"]["SystemAccount"] == "ROUNDING"
    banks = org_a.get("Accounts", params={"where": 'Type=="BANK" AND Status=="ACTIVE"'}).json()["Accounts"]
    assert {a["Code"] for a in banks} == {"090", "091"}
    tracking = org_a.get("TrackingCategories").json()["TrackingCategories"]
    assert [t["Name"] for t in tracking] == ["Region", "Sales Channel"]
    assert "AUD" in [c["Code"] for c in org_a.get("Currencies").json()["Currencies"]]
    organisation = org_b.get("Organisation").json()["Organisations"][0]
    assert organisation["CountryCode"] == "GB" and organisation["BaseCurrency"] == "GBP"


def test_only_two_active_tracking_categories(org_a):
    response = org_a.put("TrackingCategories", {"Name": "Third"})
    assert response.status_code == 400
    assert "2 active tracking categories" in response.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_items_code_unique_and_unitdp(org_a):
    item = {"Code": "SKU-1", "Name": "Widget", "SalesDetails": {"UnitPrice": 1.23456, "AccountCode": "200"}}
    created = org_a.put("Items", {"Items": [item]}, params={"unitdp": 4})
    assert created.status_code == 200
    assert created.json()["Items"][0]["SalesDetails"]["UnitPrice"] == 1.2346
    assert org_a.put("Items", {"Items": [item]}).status_code == 400
    item_id = created.json()["Items"][0]["ItemID"]
    assert org_a.get(f"Items/{item_id}").json()["Items"][0]["SalesDetails"]["UnitPrice"] == 1.23


def test_loader_loads_native_records_into_one_org(org_a, org_b):
    result = load_records(
        account=org_a.tenant_id,
        data={
            "Contacts": [{"Name": "Loaded Ltd", "ContactNumber": "L-1"}],
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactNumber": "L-1"},
                    "Status": "AUTHORISED",
                    "LineItems": [{"Description": "x", "Quantity": 2, "UnitAmount": "5.00", "AccountCode": "200"}],
                }
            ],
        },
    )
    assert result == {"loaded": {"Contacts": 1, "Invoices": 1}}
    assert org_a.get("Invoices").json()["Invoices"][0]["Total"] == 11.0
    assert org_b.get("Invoices").json()["Invoices"] == []
    with pytest.raises(ValueError, match="Contacts\\[0\\]"):
        load_records(account=org_a.tenant_id, data={"Contacts": [{"Name": "Loaded Ltd"}]})
