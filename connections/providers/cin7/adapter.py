"""Cin7 Core as a source: incremental reads, fetch by id, normalisation, and payments written back.

Entities: customers and suppliers (/customer, /supplier, ModifiedSince), orders (sales: /saleList UpdatedSince for
the ids, then /sale?ID= for each full sale), payments (/sale/payment of the sales that changed), refunds (credit
notes of /saleCreditNoteList sales), products (/product, ModifiedSince) and stock (/ref/productavailability, not
dated). Cin7 does not sort its lists by modification, so the adapter sorts each run oldest first before yielding
(list entries are small; full sales are fetched one by one afterwards).

Ids: a sale's ID for an order; "<SaleID>:<payment ID>" for a payment; "<SaleID>:<credit note TaskID>" for a
refund; the GUID for customers, suppliers and products; "<SKU>@<Location>" for a stock level. A bare SaleID
fetches the sale's most recent payment or credit note, which is what a Sale/…PaymentReceived or
Sale/CreditNoteAuthorised event announces.

Tax rule percents come from /ref/tax, read once per adapter.
"""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from connections.checks import CheckResult, host_of, unreachable
from connections.paging import cin7_pages
from connections.providers.cin7 import normalize as nz
from connections.providers.cin7.client import Cin7Client
from connections.sources import SourceAdapter
from core.errors import ApplicationError, NotFoundError, ProviderAuthError, RequestError, RetryableError
from core.money import from_json_number, quantize

logger = logging.getLogger(__name__)
CONTEXT_FIELDS = ("SaleID", "CustomerCurrency", "TaxCalculation", "CurrencyRate", "LastModifiedOn")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL = {"IncludeDeprecated": "true"}


def cin7_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _oldest_first(records: list[dict], field: str) -> list[dict]:
    return sorted(records, key=lambda r: nz.parse_time(r.get(field)) or EPOCH)


def _sale_context(sale: dict) -> dict:
    """What a credit note needs from its full sale."""
    context = {key: sale.get(key) for key in CONTEXT_FIELDS if key != "SaleID"}
    return {**context, **_payment_context(sale)}


def _payment_context(sale: dict) -> dict:
    """What a payment row needs from its sale: the same from a full sale or its /saleList entry."""
    return {
        "SaleID": sale.get("ID") or sale.get("SaleID"),
        "SaleOrderNumber": (sale.get("Order") or {}).get("SaleOrderNumber") or sale.get("OrderNumber"),
        "CustomerCurrency": sale.get("CustomerCurrency"),
    }


class Cin7Adapter(SourceAdapter):
    entities = ("customer", "order", "payment", "refund", "product", "stock")
    provider_name = "Cin7 Core"
    webhook_kinds = {
        "Sale/Created": "order",
        "Sale/QuoteAuthorised": "order",
        "Sale/OrderAuthorised": "order",
        "Sale/InvoiceAuthorised": "order",
        "Sale/Voided": "order",
        "Sale/Undo": "order",
        "Sale/Backordered": "order",
        "Sale/PartialPaymentReceived": "payment",
        "Sale/FullPaymentReceived": "payment",
        "Sale/CreditNoteAuthorised": "refund",
        "Customer/Updated": "customer",
        "Supplier/Updated": "customer",
        "Product/Updated": "product",
        "Stock/AvailableStockLevelChanged": "stock",
    }

    def __init__(self, connection, *, client):
        super().__init__(connection, client=client)
        self._rates = None

    @classmethod
    def for_connection(cls, connection, *, transport=None, **client_options):
        return cls(connection, client=Cin7Client(connection=connection, transport=transport, **client_options))

    @property
    def rates(self) -> dict:
        """Tax rule name → percent, from /ref/tax (read once per adapter)."""
        if self._rates is None:
            self._rates = nz.tax_rates(list(cin7_pages(self.client, "ref/tax", list_key="TaxRuleList")))
        return self._rates

    # Test ----------------------------------------------------------------------------------------------------

    def test(self) -> CheckResult:
        host = host_of(self.client.base_url)
        try:
            body = self.client.get("me").json()
        except ProviderAuthError:
            if not _cin7_shaped(self.client.last_response):
                return _not_cin7(host)
            return CheckResult(
                False,
                "Cin7 Core refused the Account ID or the API application key: check both under Integrations › API "
                "in Cin7 Core.",
            )
        except RetryableError as exc:
            return unreachable(exc, host, "Cin7 Core")
        except (RequestError, ValueError):
            return _not_cin7(host)
        if not isinstance(body, dict) or "Company" not in body:
            return _not_cin7(host)
        return CheckResult(True, f"Connected to Cin7 Core: {body['Company']} (base currency {body.get('Currency')}).")

    # Reads ---------------------------------------------------------------------------------------------------

    def changed(self, entity: str, *, since: datetime | None) -> Iterator[tuple[str, datetime | None, dict]]:
        entity = self._entity(entity)
        if entity == "customer":
            # Deprecated customers are listed too: deprecating one is a change Xero must hear about (archived).
            params = {"ModifiedSince": cin7_time(since), **ALL} if since else ALL
            records = list(cin7_pages(self.client, "customer", list_key="CustomerList", params=params))
            records += list(cin7_pages(self.client, "supplier", list_key="SupplierList", params=params))
            for record in _oldest_first(records, "LastModifiedOn"):
                yield str(record["ID"]), nz.parse_time(record.get("LastModifiedOn")), record
        elif entity == "product":
            params = {"ModifiedSince": cin7_time(since), **ALL} if since else ALL
            products = list(cin7_pages(self.client, "product", list_key="Products", params=params))
            for record in _oldest_first(products, "LastModifiedOn"):
                yield str(record["ID"]), nz.parse_time(record.get("LastModifiedOn")), record
        elif entity == "stock":
            for row in cin7_pages(self.client, "ref/productavailability", list_key="ProductAvailabilityList"):
                if row.get("SKU"):
                    yield f"{row['SKU']}@{row.get('Location') or ''}", None, row
        elif entity == "order":
            for header in self._headers("saleList", since):
                sale = self._listed_sale(header)
                if sale is None:
                    continue
                yield str(sale["ID"]), nz.parse_time(sale.get("LastModifiedOn")), sale
        elif entity == "payment":
            for header in self._headers("saleList", since):
                if not from_json_number(header.get("PaidAmount")):
                    continue
                updated = nz.parse_time(header.get("Updated"))
                for row in self._payments(header["SaleID"], _payment_context(header)):
                    yield f"{header['SaleID']}:{row['ID']}", updated, row
        else:
            for header in self._headers("saleCreditNoteList", since):
                sale = self._listed_sale(header)
                for note in () if sale is None else self._credit_notes(sale):
                    yield f"{sale['ID']}:{note['TaskID']}", nz.parse_time(sale.get("LastModifiedOn")), note

    def _listed_sale(self, header: dict) -> dict | None:
        """The full sale behind a list entry; None when Cin7 lists a sale it no longer has (deleted since)."""
        try:
            return self._sale(header["SaleID"])
        except NotFoundError:
            logger.info("Cin7 Core listed sale %s but has no such sale; skipped", header.get("SaleID"))
            return None

    def _headers(self, path: str, since: datetime | None) -> list[dict]:
        params = {"UpdatedSince": cin7_time(since)} if since else {}
        return _oldest_first(list(cin7_pages(self.client, path, list_key="SaleList", params=params)), "Updated")

    def _sale(self, sale_id: str) -> dict:
        try:
            return self.client.get("sale", params={"ID": sale_id}).json()
        except RequestError as exc:
            if exc.extra.get("status") in (400, 404) and "not found" in exc.message.lower():
                raise NotFoundError(f"Cin7 Core has no sale '{sale_id}'.") from exc
            raise

    def _payments(self, sale_id: str, context: dict) -> list[dict]:
        rows = self.client.get("sale/payment", params={"SaleID": sale_id}).json()
        rows = [r for r in rows if isinstance(r, dict) and (r.get("Type") or "Payment") == "Payment"]
        return [{**row, "_context": context} for row in _oldest_first(rows, "DateCreated")]

    def _credit_notes(self, sale: dict) -> list[dict]:
        context = _sale_context(sale)
        notes = [n for n in sale.get("CreditNotes") or [] if (n.get("Status") or "").upper() not in ("VOIDED", "DRAFT")]
        return [{**note, "_context": context} for note in _oldest_first(notes, "CreditNoteDate")]

    def fetch(self, entity: str, source_id: str) -> dict:
        entity = self._entity(entity)
        if entity == "order":
            return self._sale(source_id)
        if entity in ("customer", "product"):
            kinds = (("customer", "CustomerList"), ("supplier", "SupplierList"))
            for path, key in kinds if entity == "customer" else (("product", "Products"),):
                found = self.client.get(path, params={"ID": source_id, **ALL}).json().get(key) or []
                match = [r for r in found if str(r.get("ID")).lower() == source_id.lower()]
                if match:
                    return match[0]
            raise NotFoundError(f"Cin7 Core has no {entity} '{source_id}'.")
        if entity == "stock":
            sku, _, location = source_id.rpartition("@")
            rows = self.client.get("ref/productavailability", params={"Sku": sku}).json()
            for row in rows.get("ProductAvailabilityList") or []:
                if row.get("SKU") == sku and (row.get("Location") or "") == location:
                    return row
            raise NotFoundError(f"Cin7 Core has no stock of '{sku}' at '{location}'.")
        sale_id, _, child_id = source_id.partition(":")
        sale = self._sale(sale_id)
        if entity == "payment":
            children = self._payments(sale_id, _payment_context(sale))
            key = "ID"
        else:
            children = self._credit_notes(sale)
            key = "TaskID"
        if not child_id and children:
            return children[-1]
        for child in children:
            if str(child.get(key)).lower() == child_id.lower():
                return child
        raise NotFoundError(f"Cin7 Core has no {entity} '{source_id}'.")

    def normalize(self, entity: str, native: dict):
        entity = self._entity(entity)
        if entity == "customer":
            return nz.normalize_customer(native)
        if entity == "order":
            return nz.normalize_sale(native, rates=self.rates)
        if entity == "payment":
            return nz.normalize_payment(native)
        if entity == "refund":
            return nz.normalize_credit_note(native, rates=self.rates)
        if entity == "product":
            return nz.normalize_product(native, rates=self.rates)
        return nz.normalize_availability(native)

    def webhook_source_id(self, kind: str, body: dict) -> str:
        """SaleID for Sale/* events, ID for customers, suppliers and products, "<SKU>@<Location>" for stock."""
        entity = self._entity(kind)
        body = body if isinstance(body, dict) else {}
        if entity == "stock":
            value = f"{body['SKU']}@{body.get('Location') or ''}" if body.get("SKU") else None
        elif entity in ("customer", "product"):
            value = body.get("ID")
        else:
            value = body.get("SaleID")
        if not value:
            raise ApplicationError(f"The Cin7 Core event names no {entity} id.", code="webhook_without_id")
        return str(value)

    # Write-backs ---------------------------------------------------------------------------------------------

    def order_mark_paid(self, source_id: str, *, amount, paid_at: datetime, reference: str, account: str = "") -> None:
        """Record a payment against the sale's authorised invoice (POST /sale/payment), once per reference.

        `account` is the Cin7 bank account code (Cin7's default when empty). A payment with the same reference
        already on the invoice means an earlier attempt went through: nothing is sent again.
        """
        sale = self._sale(source_id)
        invoices = [i for i in sale.get("Invoices") or [] if (i.get("Status") or "").upper() in ("AUTHORISED", "PAID")]
        if not invoices:
            raise RequestError(
                f"Cin7 Core sale {source_id} has no authorised invoice to pay.", code="provider_request_refused"
            )
        for invoice in invoices:
            if any(reference and p.get("Reference") == reference for p in invoice.get("Payments") or []):
                return
        invoice = next((i for i in invoices if (i.get("Status") or "").upper() == "AUTHORISED"), None)
        if invoice is None:
            return
        body = {
            "SaleID": sale["ID"],
            "TaskID": invoice["TaskID"],
            "Amount": format(quantize(amount), "f"),
            "DatePaid": paid_at.astimezone(UTC).strftime("%Y-%m-%d"),
            "Reference": reference,
        }
        if account:
            body["Account"] = account
        answer = self.client.post("sale/payment", json_body=body).json()
        # Task endpoints refuse with HTTP 200 and an Errors list.
        errors = answer.get("Errors") if isinstance(answer, dict) else None
        if errors:
            messages = "; ".join(str(e.get("Exception") or e) for e in errors if e)
            raise RequestError(f"Cin7 Core refused the payment: {messages}", code="provider_request_refused")

    def _stock_rows(self, sku: str) -> tuple[str, list[dict], list[dict]]:
        """(location, its availability rows, every row) of a SKU: a SKU stocked at one location is kept there, else
        at the account's default location."""
        listed = self.client.get("ref/productavailability", params={"Sku": sku}).json()
        rows = [r for r in listed.get("ProductAvailabilityList") or [] if r.get("SKU") == sku]
        if not rows:
            return "", [], []
        locations = {r.get("Location") or "" for r in rows}
        location = locations.pop() if len(locations) == 1 else self.client.get("me").json().get("DefaultLocation", "")
        return location, [r for r in rows if (r.get("Location") or "") == location], rows

    def stock_get(self, sku: str):
        """On hand at the SKU's location (see _stock_rows), or None when Cin7 Core has no stock row for it."""
        _, here, rows = self._stock_rows(sku)
        if not rows:
            return None
        return sum((from_json_number(r.get("OnHand") or 0) for r in here), Decimal(0))

    def stock_set(self, sku: str, quantity) -> bool:
        """Make the SKU's on-hand quantity `quantity` with a completed stock adjustment (POST /stockadjustment).

        The line's Quantity is the new on-hand quantity, not a difference [unverified against Cin7's own docs; the
        simulator follows it]. Nothing is sent when the quantity is already right, so a retry never adjusts twice.
        """
        quantity = quantize(from_json_number(quantity), Decimal("0.0001"))
        location, here, rows = self._stock_rows(sku)
        if not rows:
            raise NotFoundError(f"Cin7 Core has no stock of '{sku}'.")
        if here and sum(from_json_number(r.get("OnHand") or 0) for r in here) == quantity:
            return False
        line = {"SKU": sku, "ProductID": rows[0].get("ID"), "Location": location, "Quantity": format(quantity, "f")}
        body = {
            "EffectiveDate": datetime.now(UTC).strftime("%Y-%m-%d"),
            "Status": "COMPLETED",
            "Reference": "Xero stock on hand",
            "Lines": [line],
        }
        self.client.post("stockadjustment", json_body=body)
        return True


def _cin7_shaped(response) -> bool:
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return False
    items = body if isinstance(body, list) else [body]
    return any(isinstance(item, dict) and "Exception" in item for item in items)


def _not_cin7(host: str) -> CheckResult:
    return CheckResult(False, f"{host} doesn't answer like Cin7 Core's API: check the API address.")
