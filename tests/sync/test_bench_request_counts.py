"""bench_sync counts every request that reaches Xero by endpoint: lookups and retried attempts as well as batches."""

import threading

import httpx

from sync.management.commands.bench_sync import ORDER_FLOWS, RequestCounter


def test_every_request_counts_under_its_endpoint_whichever_thread_sends_it():
    counter = RequestCounter(httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    base = "http://testserver/sandbox/xero/api.xro/2.0"

    def send(path, method="PUT"):
        with httpx.Client(transport=counter) as client:
            client.request(method, f"{base}/{path}")

    send("Contacts?where=ContactNumber%3D%3D%22C1%22", method="GET")  # a lookup before a create
    send("Contacts?summarizeErrors=false")
    send("Invoices/3f0c1b4e-0000-4000-8000-000000000001", method="POST")
    senders = [threading.Thread(target=send, args=("Payments?summarizeErrors=false",)) for _ in range(8)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    assert counter.by_endpoint == {"Contacts": 2, "Invoices": 1, "Payments": 8}
    assert sum(counter.by_endpoint[name] for name in ORDER_FLOWS) == 3
