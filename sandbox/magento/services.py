"""Writes to the simulated Magento: stores and credentials, order actions, invoices, refunds and stock.

Order actions follow Magento 2.4's rules for which states allow what, and answer refusals with Magento's messages
(raised as MagentoError, which the API turns into Magento's error body).
"""

import secrets
import string
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandbox.magento import documents
from sandbox.magento.errors import NO_PRODUCT, MagentoError, not_found
from sandbox.magento.formats import increment_id, magento_datetime, money
from sandbox.magento.models import (
    AccessToken,
    AdminUser,
    Customer,
    Invoice,
    Order,
    Product,
    StockItem,
    Store,
    StoreView,
)
from sandbox.magento.records import (
    CREDITMEMO,
    CUSTOMER,
    INVOICE,
    record_build,
    record_update,
    sequence_take,
)
from sandbox.magento.records import next_id as record_next_id

ADMIN_TOKEN_LIFETIME = timedelta(hours=4)
TOKEN_ALPHABET = string.ascii_lowercase + string.digits
REST_PREFIX = "/sandbox/magento/rest/"

# Magento's default order statuses per state (sales_order_status_state).
STATE_STATUSES = {
    "new": ("pending",),
    "pending_payment": ("pending_payment",),
    "processing": ("processing", "fraud"),
    "complete": ("complete",),
    "closed": ("closed",),
    "canceled": ("canceled",),
    "holded": ("holded",),
    "payment_review": ("payment_review", "fraud"),
}


def _token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(32))


def store_credentials(*, store: Store) -> dict:
    """What a client needs to reach a store: base URL, store code, admin login and the integration token."""
    admin = store.admin_users.order_by("pk").first()
    token = store.tokens.filter(kind=AccessToken.Kind.INTEGRATION, revoked=False).order_by("pk").first()
    path = f"{REST_PREFIX}{store.code}/"
    return {
        "account": store.code,
        "store_code": store.code,
        "base_url": settings.SITE_URL.rstrip("/") + path,
        "base_path": path,
        "admin_username": admin.username if admin else None,
        "admin_password": admin.password if admin else None,
        "access_token": token.token if token else None,
        "prices_include_tax": store.prices_include_tax,
        "base_currency": store.base_currency,
        "display_currency": store.display_currency,
        "store_views": list(store.views.order_by("magento_id").values_list("code", flat=True)),
    }


@transaction.atomic
def store_create(
    *, code: str, tax_inclusive: bool = False, currency: str = "USD", name: str = "", second_view: bool = True
) -> dict:
    """Create a simulated Magento store (idempotent by code) and return its credentials.

    A new store gets the default store view (code = store code, store_id 1), a second view `<code>_v2` (store_id 2),
    an admin user `admin` with a random password, and an integration access token usable as a Bearer token.
    Calling it again with the same code returns the existing store's credentials unchanged.
    """
    code = code.strip()
    if not code or any(ch not in string.ascii_letters + string.digits + "_-" for ch in code):
        raise ValueError("a store code is letters, digits, '_' and '-'")
    if code in ("default", "all", "V1") or StoreView.objects.filter(code=code).exclude(store__code=code).exists():
        raise ValueError(f"the store code {code!r} is taken")
    store, created = Store.objects.get_or_create(
        code=code,
        defaults={
            "name": name or f"{code} Store",
            "base_currency": currency.upper(),
            "display_currency": currency.upper(),
            "prices_include_tax": tax_inclusive,
        },
    )
    if created:
        StoreView.objects.create(store=store, code=code, magento_id=1, website_id=1, name="Default Store View")
        if second_view:
            StoreView.objects.create(
                store=store, code=f"{code}_v2", magento_id=2, website_id=1, name="Second Store View"
            )
        AdminUser.objects.create(store=store, username="admin", password=secrets.token_urlsafe(12) + "1a")
        AccessToken.objects.create(
            store=store, kind=AccessToken.Kind.INTEGRATION, token=_token(), integration_name="Ledgerbridge"
        )
    return store_credentials(store=store)


def admin_token_issue(*, store: Store | None, username: str, password: str) -> str | None:
    """A new 4-hour admin token for valid credentials (within `store` if given); None when sign-in fails."""
    users = AdminUser.objects.filter(username=username, is_active=True).select_related("store")
    if store is not None:
        users = users.filter(store=store)
    matches = [user for user in users if secrets.compare_digest(user.password, password)]
    if len(matches) != 1:
        return None
    user = matches[0]
    token = AccessToken.objects.create(
        store=user.store,
        kind=AccessToken.Kind.ADMIN,
        token=_token(),
        admin_user=user,
        expires_at=timezone.now() + ADMIN_TOKEN_LIFETIME,
    )
    return token.token


def _now() -> str:
    return magento_datetime(timezone.now())


def _locked_order(store: Store, order_id: int) -> tuple[Order, dict]:
    row = Order.objects.select_for_update().filter(store=store, entity_id=order_id).first()
    if row is None:
        raise not_found()
    return row, row.as_dict()


def _history_entry(*, store, order: dict, comment: str, status, notified, visible, entity_name="order") -> dict:
    return {
        "comment": comment,
        "created_at": _now(),
        "entity_id": sequence_take(store=store, name="status_history"),
        "entity_name": entity_name,
        "is_customer_notified": notified,
        "is_visible_on_front": visible,
        "parent_id": order["entity_id"],
        "status": status,
    }


def _flag(value, default=0):
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@transaction.atomic
def order_comment_add(*, store: Store, order_id: int, history: dict) -> bool:
    """Add a status history comment; a `status` that belongs to the order's state also becomes the order status.

    [INFERRED from Magento 2.4's OrderService::addComment] A status of another state is recorded on the comment only.
    """
    row, order = _locked_order(store, order_id)
    status = history.get("status") or order.get("status")
    if status in STATE_STATUSES.get(order.get("state"), ()):
        order["status"] = status
    entry = _history_entry(
        store=store,
        order=order,
        comment=str(history.get("comment") or ""),
        status=status,
        notified=_flag(history.get("is_customer_notified"), None) if "is_customer_notified" in history else None,
        visible=_flag(history.get("is_visible_on_front")),
    )
    # Magento lists the newest comment first.
    order["status_histories"] = [entry, *order.get("status_histories", [])]
    order["updated_at"] = entry["created_at"]
    record_update(row, order)
    return True


@transaction.atomic
def order_hold(*, store: Store, order_id: int) -> bool:
    """Put an order on hold (state and status `holded`), remembering what to return to."""
    row, order = _locked_order(store, order_id)
    if order.get("state") in ("canceled", "payment_review", "complete", "closed", "holded"):
        raise MagentoError(400, "A hold action is not available.")
    order["hold_before_state"], order["hold_before_status"] = order.get("state"), order.get("status")
    order["state"], order["status"] = "holded", "holded"
    order["updated_at"] = _now()
    record_update(row, order)
    return True


@transaction.atomic
def order_unhold(*, store: Store, order_id: int) -> bool:
    """Release a held order back to the state and status it had."""
    row, order = _locked_order(store, order_id)
    if order.get("state") != "holded" or not order.get("hold_before_state"):
        raise MagentoError(400, "You cannot remove the hold.")
    order["state"], order["status"] = order.pop("hold_before_state"), order.pop("hold_before_status", None)
    order["updated_at"] = _now()
    record_update(row, order)
    return True


@transaction.atomic
def order_cancel(*, store: Store, order_id: int) -> bool:
    """Cancel what is not invoiced. Like Magento, an order that cannot be cancelled answers false, not an error."""
    row, order = _locked_order(store, order_id)
    open_items = [
        item
        for item in order.get("items", [])
        if not documents.is_child(item) and documents.remaining_qty(item, "invoice") > 0
    ]
    if order.get("state") in ("canceled", "complete", "closed", "holded", "payment_review") or not open_items:
        return False
    documents.order_apply_cancel(order, updated_at=_now())
    record_update(row, order)
    return True


def _requested_qtys(order: dict, items, kind: str) -> dict[int, Decimal]:
    """{order item id: qty} from a request's items (all that is open when none are given)."""
    open_rows = {item["item_id"]: item for item in order.get("items", []) if not documents.is_child(item)}
    if not items:
        return {
            item_id: documents.remaining_qty(item, kind)
            for item_id, item in open_rows.items()
            if documents.remaining_qty(item, kind) > 0
        }
    qtys = {}
    for entry in items:
        try:
            item_id, qty = int(entry["order_item_id"]), Decimal(str(entry.get("qty", 0)))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            raise MagentoError(
                400, "The invoice contains one or more items that are not part of the original order."
            ) from None
        if item_id not in open_rows:
            continue
        if qty <= 0:
            continue
        if qty > documents.remaining_qty(open_rows[item_id], kind):
            message = (
                'The quantity to invoice must not be greater than the uninvoiced quantity for product SKU "%1".'
                if kind == "invoice"
                else 'The quantity to creditmemo must not be greater than the unrefunded quantity for product SKU "%1".'
            )
            raise MagentoError(400, message, [open_rows[item_id].get("sku")])
        qtys[item_id] = qty
    return qtys


def _document_prefix(order: dict) -> str:
    return "2" if str(order.get("store_id")) == "2" else ""


@transaction.atomic
def invoice_create(*, store: Store, order_id: int, items=None, comment: str = "") -> int:
    """Invoice (and capture offline) the requested items, or everything still open; returns the invoice id."""
    row, order = _locked_order(store, order_id)
    if order.get("state") in ("canceled", "holded", "closed", "complete", "payment_review"):
        raise MagentoError(400, "The order does not allow an invoice to be created.")
    qtys = _requested_qtys(order, items, "invoice")
    if not qtys:
        raise MagentoError(400, "The order does not allow an invoice to be created.")
    entity_id = record_next_id(store=store, kind=INVOICE)
    now = _now()
    invoice = documents.invoice_build(
        order=order,
        qtys=qtys,
        entity_id=entity_id,
        increment_id=increment_id(entity_id, _document_prefix(order)),
        first_item_id=sequence_take(store=store, name="invoice_item", count=len(order["items"])),
        created_at=now,
    )
    if comment:
        invoice["comments"] = [
            {"comment": comment, "created_at": now, "is_customer_notified": 0, "parent_id": entity_id}
        ]
    documents.order_apply_invoice(order, invoice, updated_at=now)
    record_build(store=store, kind=INVOICE, document=invoice).save()
    record_update(row, order)
    return entity_id


def _amount(arguments: dict, key: str) -> Decimal:
    try:
        return Decimal(str(arguments.get(key) or 0))
    except InvalidOperation:
        raise MagentoError(
            400,
            'Invalid value of "%value" provided for the %fieldName field.',
            {"value": str(arguments.get(key)), "fieldName": key},
        ) from None


@transaction.atomic
def creditmemo_create(*, store: Store, order_id: int, items=None, arguments: dict | None = None) -> int:
    """Refund offline (POST /V1/order/{id}/refund); returns the credit memo id.

    Shipping: absent → what is left of it is refunded; 0 → none; any other amount → all that is left (partial
    shipping refunds are not simulated). Adjustments are in the order currency. Items listed in
    extension_attributes.return_to_stock_items go back into stock.
    """
    arguments = arguments or {}
    row, order = _locked_order(store, order_id)
    if order.get("state") in ("canceled", "closed", "holded", "payment_review") or not documents.d(
        order.get("total_invoiced")
    ):
        raise MagentoError(400, "We can't create creditmemo for the order.")
    qtys = _requested_qtys(order, items, "creditmemo")
    refund_shipping = "shipping_amount" not in arguments or _amount(arguments, "shipping_amount") != 0
    positive, negative = _amount(arguments, "adjustment_positive"), _amount(arguments, "adjustment_negative")
    if not qtys and not refund_shipping and not positive:
        raise MagentoError(400, "You can't create a creditmemo without products.")
    entity_id = record_next_id(store=store, kind=CREDITMEMO)
    now = _now()
    invoice_ids = list(
        Invoice.objects.filter(store=store, order_id=order_id).order_by("entity_id").values_list("entity_id", flat=True)
    )
    memo = documents.creditmemo_build(
        order=order,
        qtys=qtys,
        entity_id=entity_id,
        increment_id=increment_id(entity_id, _document_prefix(order)),
        first_item_id=sequence_take(store=store, name="creditmemo_item", count=len(order["items"])),
        created_at=now,
        refund_shipping=refund_shipping,
        adjustment_positive=positive,
        adjustment_negative=negative,
        invoice_id=invoice_ids[0] if invoice_ids else None,
    )
    if documents.d(memo["grand_total"]) > documents.d(order.get("total_paid")) - documents.d(
        order.get("total_refunded")
    ):
        raise MagentoError(400, "The most money available to refund is %1.", [order.get("total_paid")])
    documents.order_apply_creditmemo(order, memo, updated_at=now)
    currency = order.get("order_currency_code", "")
    order["status_histories"] = [
        _history_entry(
            store=store,
            order=order,
            comment=f"We refunded {currency} {memo['grand_total']:.2f} offline.",
            status=order.get("status"),
            notified=0,
            visible=0,
            entity_name="creditmemo",
        ),
        *order.get("status_histories", []),
    ]
    record_build(store=store, kind=CREDITMEMO, document=memo).save()
    record_update(row, order)
    returned = set((arguments.get("extension_attributes") or {}).get("return_to_stock_items") or [])
    for item in order["items"]:
        if item["item_id"] in returned and item["item_id"] in qtys and not documents.is_child(item):
            _stock_add(store=store, sku=item.get("sku"), qty=qtys[item["item_id"]])
    return entity_id


def _stock_add(*, store: Store, sku: str, qty: Decimal) -> None:
    stock = StockItem.objects.select_for_update().filter(store=store, sku=sku).first()
    if stock is None:
        return
    document = stock.as_dict()
    document["qty"] = money(documents.d(document.get("qty")) + qty)
    document["is_in_stock"] = documents.d(document["qty"]) > 0 or bool(document.get("is_in_stock"))
    record_update(stock, document)


STOCK_FIELDS_READ_ONLY = {"item_id", "product_id", "stock_id"}


@transaction.atomic
def stock_item_update(*, store: Store, sku: str, item_id: int, changes: dict) -> int:
    """PUT /V1/products/{sku}/stockItems/{itemId}: merge the given fields into the SKU's stock item."""
    if not Product.objects.filter(store=store, sku=sku).exists():
        raise MagentoError(404, NO_PRODUCT)
    stock = StockItem.objects.select_for_update().filter(store=store, sku=sku).first()
    if stock is None:
        raise MagentoError(404, NO_PRODUCT)
    document = stock.as_dict()
    for key, value in changes.items():
        if key in STOCK_FIELDS_READ_ONLY:
            continue
        if key == "qty":
            try:
                value = money(Decimal(str(value)))
            except InvalidOperation:
                raise MagentoError(
                    400,
                    'Invalid value of "%value" provided for the %fieldName field.',
                    {"value": str(value), "fieldName": "qty"},
                ) from None
        document[key] = value
    record_update(stock, document)
    return stock.item_id


# Customers -------------------------------------------------------------------------------------------------------

CUSTOMER_FIELDS_READ_ONLY = {"id", "created_at", "updated_at", "created_in"}
EMAIL_TAKEN = "A customer with the same email address already exists in an associated website."


def _customer_check(*, store: Store, document: dict, customer_id: int) -> None:
    """Magento's checks on a saved customer: names and email required, the email unique within its website."""
    for field in ("email", "firstname", "lastname"):
        if not str(document.get(field) or "").strip():
            raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": field})
    if "@" not in str(document["email"]):
        raise MagentoError(
            400,
            'Invalid value of "%value" provided for the %fieldName field.',
            {"value": str(document["email"]), "fieldName": "email"},
        )
    taken = Customer.objects.filter(
        store=store, email__iexact=document["email"], website_id=document.get("website_id") or 1
    ).exclude(entity_id=customer_id)
    if taken.exists():
        raise MagentoError(400, EMAIL_TAKEN)


@transaction.atomic
def customer_save(*, store: Store, data: dict, customer_id: int | None = None) -> dict:
    """POST /V1/customers (create) or PUT /V1/customers/{id} (update); returns the saved customer's JSON.

    An update keeps what the body leaves out (the addresses too, unless the body carries them).
    """
    now = _now()
    row = None
    if customer_id is None:
        customer_id = record_next_id(store=store, kind=CUSTOMER)
        document = {
            "id": customer_id,
            "group_id": 1,
            "created_at": now,
            "store_id": 1,
            "website_id": 1,
            "created_in": "Default Store View",
            "disable_auto_group_change": 0,
            "addresses": [],
        }
    else:
        row = Customer.objects.select_for_update().filter(store=store, entity_id=customer_id).first()
        if row is None:
            raise MagentoError(
                404,
                "No such entity with %fieldName = %fieldValue",
                {"fieldName": "customerId", "fieldValue": customer_id},
            )
        document = row.as_dict()
    for key, value in data.items():
        if key not in CUSTOMER_FIELDS_READ_ONLY:
            document[key] = value
    document["updated_at"] = now
    for address in document.get("addresses") or []:
        if not address.get("id"):
            address["id"] = sequence_take(store=store, name="customer_address")
        address["customer_id"] = customer_id
    _customer_check(store=store, document=document, customer_id=customer_id)
    if row is None:
        record_build(store=store, kind=CUSTOMER, document=document).save()
    else:
        record_update(row, document)
    return document
