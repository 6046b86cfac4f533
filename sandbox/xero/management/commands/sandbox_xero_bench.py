"""sandbox_xero_bench: what the simulated Xero costs per request on the product's paths. Prints one JSON object.

A fresh organisation (rate limits off) receives, in process through SandboxTransport, the requests a sync makes:
batches of 50 contacts and invoices (summarizeErrors=false, unitdp=4, an Idempotency-Key, tracking on lines), an
idempotent replay, a summarised batch, payments and items, and the lookups (contacts by ContactNumber with `where`,
invoices by InvoiceNumbers, a paged read). For each: milliseconds and SQL queries per request and per element.
"""

import json
import statistics
import time
import uuid

from django.core.management.base import BaseCommand
from django.db import connection

from sandbox.faults import fault_profile_set
from sandbox.transport import sandbox_client
from sandbox.xero.services.orgs import organisation_create

API = "/sandbox/xero/api.xro/2.0"
BATCH = 50


class _Org:
    def __init__(self, info: dict, http):
        self.info, self.http = info, http
        self.headers = {"Authorization": f"Bearer {info['access_token']}", "xero-tenant-id": info["tenant_id"]}

    def call(self, method: str, path: str, body=None, params=None, headers=None):
        queries = []

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            response = self.http.request(
                method, f"{API}/{path}", json=body, params=params, headers={**self.headers, **(headers or {})}
            )
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 500:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response, elapsed, len(queries)


def _summary(samples: list[tuple[float, int]], elements: int) -> dict:
    ms = [s[0] for s in samples]
    queries = [s[1] for s in samples]
    return {
        "requests": len(samples),
        "ms_median": round(statistics.median(ms), 1),
        "ms_max": round(max(ms), 1),
        "queries_median": statistics.median(queries),
        "queries_per_element": round(statistics.median(queries) / elements, 2),
    }


def _invoice(contact_id: str, number: str, i: int) -> dict:
    lines = [
        {
            "Description": f"Product {i}-{n}",
            "Quantity": 1 + n,
            "UnitAmount": f"{9.95 + n:.4f}",
            "AccountCode": "200",
            "TaxType": "OUTPUT",
            "Tracking": [{"Name": "Region", "Option": "North"}],
        }
        for n in range(3)
    ]
    lines.append({"Description": "Shipping", "Quantity": 1, "UnitAmount": "7.50", "AccountCode": "200"})
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": number,
        "Reference": f"Order {number}",
        "Date": "2025-01-15",
        "DueDate": "2025-02-15",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Inclusive",
        "CurrencyCode": "AUD",
        "LineItems": lines,
    }


class Command(BaseCommand):
    help = "Measure the simulated Xero's batch writes and lookups (ms and SQL queries); prints one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--batches", type=int, default=20, help="invoice batches of 50")
        parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")

    def handle(self, *args, **options):
        run = uuid.uuid4().hex[:8]
        info = organisation_create(name=f"Bench Xero {run}", country="AU")
        fault_profile_set(system="xero", account=info["tenant_id"], rate_limits_enabled=False)
        batches = options["batches"]
        result = {"batch_size": BATCH}
        with sandbox_client() as http:
            org = _Org(info, http)
            contacts, samples = [], []
            for b in range(batches):
                body = {
                    "Contacts": [
                        {
                            "Name": f"Customer {run} {b}-{i}",
                            "ContactNumber": f"C{run}-{b}-{i}",
                            "EmailAddress": "a@x.test",
                        }
                        for i in range(BATCH)
                    ]
                }
                response, ms, queries = org.call(
                    "POST",
                    "Contacts",
                    body,
                    params={"summarizeErrors": "false"},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                contacts += [c["ContactID"] for c in response.json()["Contacts"]]
                samples.append((ms, queries))
            result["contacts_post"] = _summary(samples, BATCH)

            samples, numbers = [], []
            for b in range(batches):
                batch_numbers = [f"SO-{run}-{b}-{i}" for i in range(BATCH)]
                numbers += batch_numbers
                body = {"Invoices": [_invoice(contacts[b * BATCH + i], n, i) for i, n in enumerate(batch_numbers)]}
                key = uuid.uuid4().hex
                response, ms, queries = org.call(
                    "POST",
                    "Invoices",
                    body,
                    params={"summarizeErrors": "false", "unitdp": "4"},
                    headers={"Idempotency-Key": key},
                )
                if response.status_code != 200 or any(i.get("HasErrors") for i in response.json()["Invoices"]):
                    raise RuntimeError(response.text[:2000])
                samples.append((ms, queries))
            result["invoices_post"] = _summary(samples, BATCH)
            _, ms, queries = org.call(
                "POST",
                "Invoices",
                body,
                params={"summarizeErrors": "false", "unitdp": "4"},
                headers={"Idempotency-Key": key},
            )
            result["invoices_replay"] = _summary([(ms, queries)], BATCH)
            # The same numbers again, summarised: every element refused ("Invoice # must be unique" is not the case
            # for POST, which updates by number) — so this measures the update path.
            _, ms, queries = org.call("POST", "Invoices", body, params={"unitdp": "4"})
            result["invoices_update_by_number"] = _summary([(ms, queries)], BATCH)

            invoices = org.call("GET", "Invoices", params={"InvoiceNumbers": ",".join(numbers[:40])})[0].json()
            payments = {
                "Payments": [
                    {"Invoice": {"InvoiceID": i["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": "1.00"}
                    for i in invoices["Invoices"]
                ]
            }
            _, ms, queries = org.call("PUT", "Payments", payments, params={"summarizeErrors": "false"})
            result["payments_put"] = _summary([(ms, queries)], len(payments["Payments"]))
            items = {
                "Items": [
                    {
                        "Code": f"SKU-{run}-{i}",
                        "Name": f"Item {i}",
                        "SalesDetails": {"UnitPrice": "5.00", "AccountCode": "200", "TaxType": "OUTPUT"},
                    }
                    for i in range(BATCH)
                ]
            }
            _, ms, queries = org.call("POST", "Items", items, params={"summarizeErrors": "false"})
            result["items_post"] = _summary([(ms, queries)], BATCH)

            samples = []
            for b in range(min(batches, 10)):
                where = " OR ".join(f'ContactNumber=="C{run}-{b}-{i}"' for i in range(40))
                response, ms, queries = org.call(
                    "GET", "Contacts", params={"where": where, "page": 1, "pageSize": 1000}
                )
                assert len(response.json()["Contacts"]) == 40, response.text[:500]
                samples.append((ms, queries))
            result["contacts_where_lookup_40"] = _summary(samples, 40)
            samples = []
            for b in range(min(batches, 10)):
                wanted = numbers[b * BATCH : b * BATCH + 40]
                response, ms, queries = org.call(
                    "GET", "Invoices", params={"InvoiceNumbers": ",".join(wanted), "page": 1, "pageSize": 1000}
                )
                assert len(response.json()["Invoices"]) == 40, response.text[:500]
                samples.append((ms, queries))
            result["invoices_numbers_lookup_40"] = _summary(samples, 40)
            response, ms, queries = org.call("GET", "Invoices", params={"page": 1, "pageSize": 100})
            result["invoices_page_100"] = _summary([(ms, queries)], 100)
            result["invoices_in_org"] = response.json()["pagination"]["itemCount"]
        self.stdout.write(json.dumps(result))
