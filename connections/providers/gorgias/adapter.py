"""Gorgias as a source: customers, and the shop orders and refunds its integrations keep on each customer.

Gorgias has no "changed since" filter and no order endpoint. Customers are read newest-updated first
(`order_by=updated_datetime:desc`) until one is older than `since`, then yielded oldest first; orders and refunds
are read from those customers' integrations data, dated by their customer's `updated_datetime` (a new order or
refund updates its customer). Nothing is written back: Gorgias keeps shop orders as read-only integration data.

Support tickets are read newest-updated first the same way (`/api/tickets`); each becomes a short note for its
customer's history in Xero when the tenant's contact policy turns ticket notes on.

Webhooks are HTTP integrations firing on ticket events: they are about the ticket's customer, found from the
delivery's customer id, else its ticket id (one call), else its customer email (one call).
"""

from collections.abc import Iterator
from datetime import datetime

from connections.checks import CheckResult, host_of, unreachable
from connections.paging import gorgias_pages
from connections.providers.gorgias import normalize as nz
from connections.providers.gorgias.client import GorgiasClient
from connections.sources import SourceAdapter
from core.errors import ApplicationError, NotFoundError, ProviderAuthError, RequestError, RetryableError

CUSTOMER_FIELDS = ("id", "email", "name", "firstname", "lastname")


def _digits(value: str, what: str) -> str:
    if not str(value).isdigit():
        raise NotFoundError(f"'{value}' is not a Gorgias {what} id.")
    return str(value)


def _orders_of(customer: dict) -> Iterator[tuple[str, dict]]:
    """(integration id, order) for every shop order in the customer's integrations data."""
    for integration_id, data in sorted((customer.get("integrations") or {}).items()):
        if isinstance(data, dict):
            for order in data.get("orders") or []:
                if isinstance(order, dict) and order.get("id") is not None:
                    yield str(integration_id), order


class GorgiasAdapter(SourceAdapter):
    entities = ("customer", "order", "refund", "ticket")
    provider_name = "Gorgias"
    webhook_kinds = {
        "ticket-created": "customer",
        "ticket-updated": "customer",
        "ticket-message-created": "customer",
        "ticket-self-unsnoozed": "customer",
    }

    @classmethod
    def for_connection(cls, connection, *, transport=None, **client_options):
        return cls(connection, client=GorgiasClient(connection=connection, transport=transport, **client_options))

    # Test ----------------------------------------------------------------------------------------------------

    def test(self) -> CheckResult:
        host = host_of(self.client.base_url)
        try:
            body = self.client.get("customers", params={"limit": 1}).json()
        except ProviderAuthError:
            if not _gorgias_shaped(self.client.last_response):
                return _not_gorgias(host)
            return CheckResult(
                False, "Gorgias refused the account email and REST API key: check both in Settings › REST API."
            )
        except RetryableError as exc:
            return unreachable(exc, host, "Gorgias")
        except RequestError:
            response = self.client.last_response
            if response is not None and response.status_code == 404 and _gorgias_shaped(response):
                return CheckResult(False, f"Gorgias has no helpdesk at {self.connection.external_account_id or host}: "
                                          "check the domain.")  # fmt: skip
            return _not_gorgias(host)
        except ValueError:
            return _not_gorgias(host)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return _not_gorgias(host)
        return CheckResult(True, f"Connected to the Gorgias helpdesk {self.connection.external_account_id or host}.")

    # Reads ---------------------------------------------------------------------------------------------------

    def _updated_since(self, collection: str, since: datetime | None) -> list[dict]:
        """Records of a collection updated since `since`, oldest first. Gorgias lists newest first and has no
        updated-since filter, so reading stops at the first record older than `since`."""
        records = []
        pages = gorgias_pages(self.client, collection, params={"order_by": "updated_datetime:desc"})
        try:
            for record in pages:
                updated = nz.parse_time(record.get("updated_datetime"))
                if since is not None and updated is not None and updated < since:
                    break
                records.append(record)
        finally:
            pages.close()
        records.reverse()
        return records

    def changed(self, entity: str, *, since: datetime | None) -> Iterator[tuple[str, datetime | None, dict]]:
        entity = self._entity(entity)
        if entity == "ticket":
            for ticket in self._updated_since("tickets", since):
                yield str(ticket["id"]), nz.parse_time(ticket.get("updated_datetime")), ticket
            return
        for customer in self._updated_since("customers", since):
            updated = nz.parse_time(customer.get("updated_datetime"))
            if entity == "customer":
                yield str(customer["id"]), updated, customer
                continue
            for integration_id, order in _orders_of(customer):
                native = _order_native(customer, integration_id, order)
                if entity == "order":
                    yield f"{customer['id']}:{order['id']}", updated, native
                else:
                    for refund in order.get("refunds") or []:
                        yield f"{customer['id']}:{order['id']}:{refund['id']}", updated, _refund_native(native, refund)

    def fetch(self, entity: str, source_id: str) -> dict:
        entity = self._entity(entity)
        if entity == "ticket":
            return self._one("ticket", str(source_id).removeprefix("ticket:"))
        parts = str(source_id).split(":")
        customer = self._one("customer", parts[0])
        if entity == "customer":
            return customer
        if len(parts) < 2:
            raise NotFoundError(f"'{source_id}' names no Gorgias {entity}.")
        for integration_id, order in _orders_of(customer):
            if str(order["id"]) != parts[1]:
                continue
            native = _order_native(customer, integration_id, order)
            if entity == "order":
                return native
            refunds = order.get("refunds") or []
            if len(parts) == 2 and refunds:
                return _refund_native(native, refunds[-1])
            for refund in refunds:
                if len(parts) > 2 and str(refund.get("id")) == parts[2]:
                    return _refund_native(native, refund)
        raise NotFoundError(f"Gorgias has no {entity} '{source_id}'.")

    def _one(self, kind: str, record_id: str) -> dict:
        """GET one customer or ticket by its numeric id; a 404 is NotFoundError."""
        try:
            return self.client.get(f"{kind}s/{_digits(record_id, kind)}").json()
        except RequestError as exc:
            if exc.extra.get("status") == 404:
                raise NotFoundError(f"Gorgias has no {kind} '{record_id}'.") from exc
            raise

    def normalize(self, entity: str, native: dict):
        entity = self._entity(entity)
        if entity == "customer":
            return nz.normalize_customer(native)
        if entity == "order":
            return nz.normalize_order(native)
        if entity == "ticket":
            return nz.normalize_ticket(native)
        return nz.normalize_refund(native)

    def webhook_source_id(self, kind: str, body: dict) -> str:
        """The customer a ticket event is about: its id, else the ticket's customer, else the customer by email."""
        self._entity(kind)
        body = body if isinstance(body, dict) else {}
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        customer_id = body.get("customer_id") or customer.get("id")
        if customer_id:
            return str(customer_id)
        if body.get("ticket_id"):
            ticket = self.client.get(f"tickets/{_digits(body['ticket_id'], 'ticket')}").json()
            if (ticket.get("customer") or {}).get("id"):
                return str(ticket["customer"]["id"])
        email = body.get("customer_email") or customer.get("email")
        if email:
            found = self.client.get("customers", params={"email": email, "limit": 1}).json().get("data") or []
            if found:
                return str(found[0]["id"])
        raise ApplicationError("The Gorgias event names no customer.", code="webhook_without_id")


def _order_native(customer: dict, integration_id: str, order: dict) -> dict:
    context = {"customer": {k: customer.get(k) for k in CUSTOMER_FIELDS}, "integration_id": integration_id}
    return {**order, "_context": context}


def _refund_native(order_native: dict, refund: dict) -> dict:
    order = {k: v for k, v in order_native.items() if k != "_context"}
    return {**refund, "_context": {**order_native["_context"], "order": order}}


def _gorgias_shaped(response) -> bool:
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _not_gorgias(host: str) -> CheckResult:
    return CheckResult(False, f"{host} doesn't answer like Gorgias: check the domain.")
