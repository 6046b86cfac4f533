"""Reads of the simulated Cin7 Core world, answering like the list and detail endpoints do."""

import json
from dataclasses import dataclass

from sandbox.cin7 import documents
from sandbox.cin7.errors import Cin7ValidationError
from sandbox.cin7.models import Cin7Account, Cin7Record

Kind = Cin7Record.Kind

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Paging:
    page: int
    limit: int


def paging(params: dict) -> Paging:
    """`Page` and `Limit` (1-based; Limit default 100, between 1 and 1000), names matched case-insensitively."""
    values = {}
    for name, default in (("page", 1), ("limit", DEFAULT_LIMIT)):
        raw = params.get(name)
        if raw in (None, ""):
            values[name] = default
            continue
        try:
            values[name] = int(raw)
        except ValueError as exc:
            raise Cin7ValidationError(f"{name.capitalize()} must be an integer") from exc
    if values["page"] < 1:
        raise Cin7ValidationError("Page should be greater than 0")
    if not 1 <= values["limit"] <= MAX_LIMIT:
        raise Cin7ValidationError(f"Limit should be between 1 and {MAX_LIMIT}")
    return Paging(page=values["page"], limit=values["limit"])


def _flag(params: dict, name: str):
    raw = params.get(name.lower())
    if raw in (None, ""):
        return None
    return str(raw).lower() in ("true", "1", "yes")


def _since(params: dict, name: str):
    raw = params.get(name.lower())
    if raw in (None, ""):
        return None
    parsed = documents.parse_datetime(raw)
    if parsed is None:
        raise Cin7ValidationError(f"{name} is not a valid date")
    return parsed


def _page(queryset, page: Paging, field: str = "body") -> tuple[list[str], int]:
    total = queryset.count()
    start = (page.page - 1) * page.limit
    texts = list(queryset.order_by("pk").values_list(field, flat=True)[start : start + page.limit])
    return texts, total


def _list_text(key: str, texts: list[str], total: int, page: Paging) -> str:
    # The stored JSON text is spliced in as-is, so a loaded record comes back byte for byte.
    return f'{{"{key}":[{",".join(texts)}],"Page":{page.page},"Total":{total}}}'


def record_list(*, account: Cin7Account, kind: str, params: dict) -> str:
    """A paged list of customers, suppliers, products, availability rows or tax rules (JSON text)."""
    page = paging(params)
    rows = Cin7Record.objects.filter(account=account, kind=kind)
    record_id = params.get("id")
    if record_id:
        rows = rows.filter(key__startswith=documents.guid_key(record_id))
    name = params.get("name")
    if name:
        rows = rows.filter(name__icontains=name)
    sku = params.get("sku")
    if sku:
        rows = rows.filter(sku__iexact=sku)
    modified = _since(params, "ModifiedSince")
    if modified:
        rows = rows.filter(modified_at__gte=modified)
    if kind in (Kind.CUSTOMER, Kind.SUPPLIER, Kind.PRODUCT) and not _flag(params, "IncludeDeprecated"):
        rows = rows.exclude(status__iexact="Deprecated")
    if kind == Kind.TAX_RULE:
        for flag in ("IsActive", "IsTaxForSale", "IsTaxForPurchase"):
            value = _flag(params, flag)
            if value is not None:
                rows = rows.filter(**{f"facets__{flag}": value})
        if params.get("account"):
            rows = rows.filter(facets__Account=params["account"])
    if kind == Kind.AVAILABILITY and params.get("location"):
        rows = rows.filter(facets__Location__iexact=params["location"])
    texts, total = _page(rows, page)
    key = {
        Kind.CUSTOMER: "CustomerList",
        Kind.SUPPLIER: "SupplierList",
        Kind.PRODUCT: "Products",
        Kind.AVAILABILITY: "ProductAvailabilityList",
        Kind.TAX_RULE: "TaxRuleList",
    }[kind]
    return _list_text(key, texts, total, page)


def sale_list(*, account: Cin7Account, params: dict, credit_notes: bool = False) -> str:
    """/saleList (or /saleCreditNoteList: sales with credit notes) as JSON text, headers only."""
    page = paging(params)
    rows = Cin7Record.objects.filter(account=account, kind=Kind.SALE).exclude(
        **{"credit_header" if credit_notes else "header": ""}
    )
    search = params.get("search")
    if search:
        rows = rows.filter(search__contains=search.lower())
    updated = _since(params, "UpdatedSince")
    if updated:
        rows = rows.filter(modified_at__gte=updated)
    created = _since(params, "CreatedSince")
    if created:
        rows = rows.filter(created_on__gte=created)
    for name in documents.SALE_FILTERS:
        value = params.get(name.lower())
        if value not in (None, ""):
            rows = rows.filter(**{f"facets__{name}__iexact": value})
    texts, total = _page(rows, page, "credit_header" if credit_notes else "header")
    return _list_text("SaleList", texts, total, page)


def sale_get(*, account: Cin7Account, sale_id: str) -> str:
    """The full sale as JSON text (GET /sale?ID=)."""
    if not sale_id:
        raise Cin7ValidationError("ID is required")
    body = (
        Cin7Record.objects.filter(account=account, kind=Kind.SALE, key=documents.guid_key(sale_id))
        .exclude(body="")
        .values_list("body", flat=True)
        .first()
    )
    if body is None:
        raise Cin7ValidationError(f"Sale with ID = {sale_id} not found")
    return body


def sale_payments(*, account: Cin7Account, sale_id: str) -> list[dict]:
    """/sale/payment?SaleID=: payments and refunds loaded as such, then those embedded in the sale."""
    key = documents.guid_key(sale_id)
    loaded = [
        json.loads(text)
        for text in Cin7Record.objects.filter(account=account, kind=Kind.PAYMENT, sale_key=key)
        .order_by("pk")
        .values_list("body", flat=True)
    ]
    body = (
        Cin7Record.objects.filter(account=account, kind=Kind.SALE, key=key)
        .exclude(body="")
        .values_list("body", flat=True)
        .first()
    )
    if body is None and not loaded:
        raise Cin7ValidationError(f"Sale with ID = {sale_id} not found")
    seen = {documents.guid_key(p.get("ID")) for p in loaded}
    embedded = documents.sale_payments(json.loads(body)) if body else []
    return loaded + [p for p in embedded if documents.guid_key(p.get("ID")) not in seen]


def webhook_list(*, account: Cin7Account) -> str:
    texts = Cin7Record.objects.filter(account=account, kind=Kind.WEBHOOK).order_by("pk").values_list("body", flat=True)
    return f'{{"Webhooks":[{",".join(texts)}]}}'
