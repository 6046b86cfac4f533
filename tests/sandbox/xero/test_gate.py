"""Around every call: error shapes, rate limits with Xero's headers, injected faults, Idempotency-Key."""

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from sandbox.faults import fault_profile_set
from sandbox.models import RateCounter
from sandbox.xero import spec
from sandbox.xero.models import Contact, IdempotentResponse, Invoice
from tests.sandbox.xero.conftest import invoice_body


def _counter(org, bucket, count):
    RateCounter.objects.update_or_create(
        system="xero",
        account=org.tenant_id,
        bucket=bucket,
        defaults={"count": count, "window_start": timezone.now()},
    )


def test_rate_limit_headers_count_down(org_a):
    first = org_a.get("Organisation")
    second = org_a.get("Organisation")
    assert int(first.headers["X-MinLimit-Remaining"]) == 59
    assert int(second.headers["X-MinLimit-Remaining"]) == 58
    assert int(second.headers["X-DayLimit-Remaining"]) == 4998
    assert int(second.headers["X-AppMinLimit-Remaining"]) <= 9998


def test_sixty_first_call_in_a_minute_is_429_minute(org_a, org_b):
    _counter(org_a, "minute", 60)
    response = org_a.get("Organisation")
    assert response.status_code == 429
    assert response.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # The other organisation has its own minute.
    assert org_b.get("Organisation").status_code == 200


def test_the_minute_window_resets(org_a):
    _counter(org_a, "minute", 60)
    RateCounter.objects.filter(account=org_a.tenant_id, bucket="minute").update(
        window_start=timezone.now() - timedelta(seconds=61)
    )
    assert org_a.get("Organisation").status_code == 200


def test_day_limit_is_429_day(org_a):
    _counter(org_a, "day", 5000)
    response = org_a.get("Organisation")
    assert response.status_code == 429 and response.headers["X-Rate-Limit-Problem"] == "day"
    assert int(response.headers["Retry-After"]) > 3600


def test_five_calls_in_flight_make_the_sixth_429_concurrent(org_a):
    _counter(org_a, "concurrent", 5)
    response = org_a.get("Organisation")
    assert response.status_code == 429 and response.headers["X-Rate-Limit-Problem"] == "concurrent"
    _counter(org_a, "concurrent", 4)
    assert org_a.get("Organisation").status_code == 200
    # The finished call gave its slot back.
    assert RateCounter.objects.get(account=org_a.tenant_id, bucket="concurrent").count == 4


def test_app_minute_limit_is_429_appminute(org_a):
    RateCounter.objects.create(
        system="xero", account=org_a.info["client_id"], bucket="appminute", count=10000, window_start=timezone.now()
    )
    response = org_a.get("Organisation")
    assert response.status_code == 429 and response.headers["X-Rate-Limit-Problem"] == "appminute"


def test_rate_limits_can_be_switched_off_per_organisation(org_a):
    fault_profile_set(system="xero", account=org_a.tenant_id, rate_limits_enabled=False)
    _counter(org_a, "minute", 60)
    assert org_a.get("Organisation").status_code == 200


def test_outage_is_503(org_a, org_b):
    fault_profile_set(system="xero", account=org_a.tenant_id, outage_until=timezone.now() + timedelta(minutes=5))
    response = org_a.get("Organisation")
    assert response.status_code == 503 and "offline" in response.text
    assert org_b.get("Organisation").status_code == 200


def test_injected_errors_are_500_or_503(org_a):
    fault_profile_set(system="xero", account=org_a.tenant_id, error_rate=1.0)
    statuses = {org_a.get("Organisation").status_code for _ in range(4)}
    assert statuses == {500, 503}


def test_injected_throttle_is_an_extra_429_minute(org_a):
    fault_profile_set(system="xero", account=org_a.tenant_id, throttle_rate=1.0)
    response = org_a.get("Organisation")
    assert response.status_code == 429
    assert response.headers["X-Rate-Limit-Problem"] == "minute" and response.headers["Retry-After"]


def test_dropped_response_applies_the_write_and_times_out(org_a):
    fault_profile_set(system="xero", account=org_a.tenant_id, drop_rate=1.0)
    with pytest.raises(httpx.ReadTimeout):
        org_a.put("Contacts", {"Contacts": [{"Name": "Applied Anyway"}]})
    assert Contact.objects.filter(name="Applied Anyway").count() == 1
    # Reads are never dropped.
    assert org_a.get("Contacts").status_code == 200


def test_latency_is_added(org_a):
    fault_profile_set(system="xero", account=org_a.tenant_id, latency_ms=120)
    started = time.monotonic()
    response = org_a.get("Organisation")
    assert response.status_code == 200 and time.monotonic() - started >= 0.12


def test_other_organisation_tenant_id_is_403(org_a, org_b):
    response = org_a.http.get(
        "/sandbox/xero/api.xro/2.0/Organisation",
        headers={"Authorization": f"Bearer {org_a.info['access_token']}", "xero-tenant-id": org_b.tenant_id},
    )
    assert response.status_code == 403
    assert response.json()["Detail"] == "AuthenticationUnsuccessful"


def test_missing_tenant_header_is_403_and_a_spec_violation(org_a):
    response = org_a.http.get(
        "/sandbox/xero/api.xro/2.0/Organisation", headers={"Authorization": f"Bearer {org_a.info['access_token']}"}
    )
    assert response.status_code == 403
    assert response.headers[spec.VIOLATION_HEADER] == "1"
    found = spec.clear()
    assert found and found[0]["kind"] == "request" and "xero-tenant-id" in found[0]["error"]


def test_unknown_record_and_resource_are_404(org_a):
    assert org_a.get("Invoices/00000000-0000-0000-0000-000000000000").status_code == 404
    assert org_a.get("Nonsense").status_code == 404
    spec.clear()  # /Nonsense is not in the spec, which is the point


def test_paths_are_case_insensitive(org_a):
    assert org_a.get("organisation").json()["Organisations"][0]["Name"] == "Alpha Pty Ltd"


def test_idempotency_key_replays_the_first_answer(org_a, contact_id):
    body = {"Invoices": [{**invoice_body(contact_id), "Type": "ACCPAY"}]}
    first = org_a.put("Invoices", body, headers={"Idempotency-Key": "order-1"})
    again = org_a.put("Invoices", body, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 200
    assert again.json()["Invoices"][0]["InvoiceID"] == first.json()["Invoices"][0]["InvoiceID"]
    assert Invoice.objects.filter(type="ACCPAY").count() == 1


def test_idempotency_key_reused_for_another_request_is_400(org_a, contact_id):
    org_a.put("Contacts", {"Contacts": [{"Name": "One"}]}, headers={"Idempotency-Key": "k"})
    response = org_a.put("Contacts", {"Contacts": [{"Name": "Two"}]}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["Message"]


def test_idempotency_key_expires_after_six_minutes(org_a, contact_id):
    body = {"Invoices": [{**invoice_body(contact_id), "Type": "ACCPAY"}]}
    org_a.put("Invoices", body, headers={"Idempotency-Key": "order-2"})
    IdempotentResponse.objects.update(created_at=timezone.now() - timedelta(minutes=6, seconds=1))
    org_a.put("Invoices", body, headers={"Idempotency-Key": "order-2"})
    assert Invoice.objects.filter(type="ACCPAY").count() == 2


def test_idempotency_key_longer_than_128_is_refused(org_a):
    response = org_a.put("Contacts", {"Contacts": [{"Name": "X"}]}, headers={"Idempotency-Key": "k" * 129})
    assert response.status_code == 400 and not Contact.objects.filter(name="X").exists()


def test_a_dropped_write_retried_with_its_key_is_not_duplicated(org_a, contact_id):
    body = {"Invoices": [{**invoice_body(contact_id), "Type": "ACCPAY"}]}
    fault_profile_set(system="xero", account=org_a.tenant_id, drop_rate=1.0)
    with pytest.raises(httpx.ReadTimeout):
        org_a.put("Invoices", body, headers={"Idempotency-Key": "order-3"})
    fault_profile_set(system="xero", account=org_a.tenant_id, drop_rate=0.0)
    retried = org_a.put("Invoices", body, headers={"Idempotency-Key": "order-3"})
    assert retried.status_code == 200 and Invoice.objects.filter(type="ACCPAY").count() == 1
