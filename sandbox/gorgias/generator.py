"""Seeded Gorgias helpdesk data: customers with shop orders in their integrations data, and tickets.

Gorgias has no order endpoint: commerce data sits in `customer.integrations["<integration id>"]` as the raw data
of the shop integration (Shopify-shaped, sources.md §2.2). Orders here are multi-line, with discounts, shipping,
tax lines (tax-exclusive and tax-inclusive shops), several currencies, refunds and cancellations. Amounts follow
Shopify's arithmetic to the cent:
- line: `price x quantity`; its discount is in `discount_allocations`; tax per tax line on the discounted amount,
  `round(base x rate, 2)`, or `round(base x rate / (1 + rate), 2)` when `taxes_included`;
- `total_line_items_price = sum(price x quantity)`, `total_discounts = sum(discounts)`,
  `subtotal_price = total_line_items_price - total_discounts`, `total_tax = line taxes + shipping taxes`,
  `total_price = subtotal_price + shipping + (total_tax unless taxes_included)`.
Same account and seed, same data.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from sandbox.gorgias.models import GorgiasRecord
from sandbox.gorgias.services import account_resolve, gorgias_datetime, record_rows

Kind = GorgiasRecord.Kind
CENT = Decimal("0.01")
DEFAULT_START = datetime(2025, 1, 6, tzinfo=UTC)
FIRST = ("Olivia", "Jack", "Mia", "Noah", "Ava", "Leo", "Zoe", "Liam", "Isla", "Ethan", "Ruby", "Oscar")
LAST = ("Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Martin", "Lee", "Walker", "Khan", "Rossi")
GOODS = (("TEA-001", "Sencha tea", "8.50"), ("MUG-002", "Stoneware mug", "14.00"), ("KET-003", "Kettle", "59.90"),
         ("CUP-004", "Espresso cups x2", "19.95"), ("BEAN-005", "House blend 1kg", "32.00"),
         ("FIL-006", "Filters x100", "4.99"), ("GRN-007", "Hand grinder", "89.00"))  # fmt: skip
# currency -> (taxes included, tax title, rate)
SHOPS = {"USD": (False, "State Tax", Decimal("0.0825")), "EUR": (True, "TVA", Decimal("0.2")),
         "GBP": (True, "VAT", Decimal("0.2")), "AUD": (False, "GST", Decimal("0.1"))}  # fmt: skip
SUBJECTS = ("Where is my order?", "Refund request", "Damaged item", "Change delivery address", "Invoice copy")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal, currency: str) -> dict:
    amount = f"{value:.2f}"
    return {"shop_money": {"amount": amount, "currency_code": currency},
            "presentment_money": {"amount": amount, "currency_code": currency}}  # fmt: skip


def _tax(base: Decimal, rate: Decimal, included: bool) -> Decimal:
    return cents(base * rate / (1 + rate)) if included else cents(base * rate)


def _tax_lines(amount: Decimal, title: str, rate: Decimal, currency: str) -> list:
    if not rate:
        return []
    return [{"rate": float(rate), "price": f"{amount:.2f}", "title": title, "price_set": money(amount, currency)}]


def _order(rng, order_id: int, number: int, email: str, when: datetime) -> dict:
    currency = rng.choice(tuple(SHOPS))
    included, title, rate = SHOPS[currency]
    zero_rated = rng.random() < 0.1
    rate = Decimal("0") if zero_rated else rate
    lines, line_total, discounts, taxes = [], Decimal("0"), Decimal("0"), Decimal("0")
    percent = Decimal(rng.choice(("0", "0", "0", "10", "15")))
    for i, (sku, name, price) in enumerate(rng.sample(GOODS, k=rng.randint(1, 4))):
        price, quantity = Decimal(price), rng.choice((1, 1, 2, 3))
        gross = price * quantity
        discount = cents(gross * percent / 100)
        tax = _tax(gross - discount, rate, included)
        line_total, discounts, taxes = line_total + gross, discounts + discount, taxes + tax
        lines.append({
            "id": order_id * 10 + i, "sku": sku, "name": name, "title": name, "grams": 250, "taxable": bool(rate),
            "price": f"{price:.2f}", "quantity": quantity, "price_set": money(price, currency),
            "total_discount": "0.00",
            "discount_allocations": [{"amount": f"{discount:.2f}", "amount_set": money(discount, currency)}]
            if discount else [],
            "tax_lines": _tax_lines(tax, title, rate, currency),
        })  # fmt: skip
    shipping = Decimal(rng.choice(("0", "4.95", "9.90")))
    shipping_tax = _tax(shipping, rate, included)
    taxes += shipping_tax
    subtotal = line_total - discounts
    total = subtotal + shipping + (Decimal("0") if included else taxes)
    order = {
        "id": order_id,
        "name": f"#{number}",
        "order_number": number,
        "email": email,
        "created_at": when.isoformat(timespec="seconds"),
        "currency": currency,
        "taxes_included": included,
        "financial_status": "paid",
        "fulfillment_status": "fulfilled",
        "cancelled_at": None,
        "cancel_reason": None,
        "discount_codes": [{"code": f"SAVE{percent}", "amount": f"{discounts:.2f}", "type": "percentage"}]
        if discounts else [],
        "line_items": lines,
        "shipping_lines": [{"id": order_id * 10 + 9, "title": "Standard", "code": "STD", "price": f"{shipping:.2f}",
                            "price_set": money(shipping, currency),
                            "tax_lines": _tax_lines(shipping_tax, title, rate, currency)}] if shipping else [],
        "total_line_items_price": f"{line_total:.2f}",
        "total_discounts": f"{discounts:.2f}",
        "subtotal_price": f"{subtotal:.2f}",
        "total_shipping_price_set": money(shipping, currency),
        "total_tax": f"{taxes:.2f}",
        "total_price": f"{total:.2f}",
        "refunds": [],
    }  # fmt: skip
    story = rng.random()
    if story < 0.08:
        # Cancelled before payment: voided, nothing refunded.
        order |= {"financial_status": "voided", "fulfillment_status": None, "cancel_reason": "customer",
                  "cancelled_at": (when + timedelta(hours=3)).isoformat(timespec="seconds")}  # fmt: skip
    elif story < 0.16:
        order |= {"financial_status": "refunded", "cancel_reason": "inventory",
                  "cancelled_at": (when + timedelta(days=1)).isoformat(timespec="seconds")}  # fmt: skip
        order["refunds"] = [_refund(order, lines, when + timedelta(days=1), full=True)]
    elif story < 0.28:
        order["financial_status"] = "partially_refunded"
        order["refunds"] = [_refund(order, lines[:1], when + timedelta(days=5), full=False)]
    return order


def _refund(order, lines, when, *, full: bool) -> dict:
    """A refund of whole lines; a full refund also returns shipping and equals `total_price`."""
    items, amount = [], Decimal("0")
    for line in lines:
        discount = sum((Decimal(d["amount"]) for d in line["discount_allocations"]), Decimal("0"))
        subtotal = Decimal(line["price"]) * line["quantity"] - discount
        tax = sum((Decimal(t["price"]) for t in line["tax_lines"]), Decimal("0"))
        items.append({"line_item_id": line["id"], "quantity": line["quantity"], "subtotal": f"{subtotal:.2f}",
                      "total_tax": f"{tax:.2f}"})  # fmt: skip
        amount += subtotal if order["taxes_included"] else subtotal + tax
    if full:
        amount = Decimal(order["total_price"])
    return {
        "id": order["id"] * 100 + 1,
        "created_at": when.isoformat(timespec="seconds"),
        "note": "Cancelled" if full else "Returned item",
        "refund_line_items": items,
        "transactions": [
            {
                "id": order["id"] * 100 + 2,
                "kind": "refund",
                "status": "success",
                "amount": f"{cents(amount):.2f}",
                "currency": order["currency"],
            }
        ],  # fmt: skip
    }


def generate(*, account: str, seed: int, customers: int, orders: int, **options) -> dict:
    """Create (or re-create, idempotently) seeded customers, their shop orders and tickets; returns counts.

    Options: tickets (default customers // 2), start (datetime, default 2025-01-06 UTC), days (span, 180).
    """
    target = account_resolve(account)
    rng = random.Random(seed)
    start = options.get("start") or DEFAULT_START
    days = int(options.get("days", 180))
    base = 1_000_000 + (seed % 10_000) * 100_000  # id range of this seed, so reruns replace, not duplicate
    integration_id = 100 + seed % 10_000
    integration = {"id": integration_id, "type": "shopify", "name": f"Shop {seed}", "description": None,
                   "http": None, "created_datetime": gorgias_datetime(start - timedelta(days=60)),
                   "updated_datetime": gorgias_datetime(start - timedelta(days=60)),
                   "deactivated_datetime": None}  # fmt: skip
    people, duplicates = [], 0
    for n in range(customers):
        if people and rng.random() < 0.12:
            # Same name as an earlier customer, different email: a different person to Gorgias.
            source = rng.choice(people)
            first, last, duplicates = source["firstname"], source["lastname"], duplicates + 1
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
        created = start - timedelta(days=30) + timedelta(minutes=n * 7)
        email = f"{first.lower()}.{last.lower()}.{n + 1}@example-{n % 5}.test"
        people.append({
            "id": base + n, "created_datetime": gorgias_datetime(created),
            "updated_datetime": gorgias_datetime(created),
            "email": email, "name": f"{first} {last}", "firstname": first, "lastname": last,
            "language": rng.choice(("en", "fr", "de")), "timezone": "UTC", "note": None,
            "external_id": f"shop-{base + n}", "channels": [{"type": "email", "address": email, "preferred": True}],
            "data": {}, "integrations": {}, "meta": {},
        })  # fmt: skip
    counts = {"orders": 0, "refunded": 0, "partially_refunded": 0, "voided": 0, "tickets": 0, "messages": 0}
    step = timedelta(days=days) / max(orders, 1)
    for n in range(orders if people else 0):
        person = rng.choice(people)
        when = start + step * n
        order = _order(rng, 4_000_000_000 + base + n, 1001 + n, person["email"], when)
        person["integrations"].setdefault(str(integration_id), {"orders": []})["orders"].append(order)
        person["updated_datetime"] = gorgias_datetime(when)
        counts["orders"] += 1
        counts[order["financial_status"]] = counts.get(order["financial_status"], 0) + 1
    counts.pop("paid", None)
    tickets, messages = [], []
    for n in range(int(options.get("tickets", customers // 2)) if people else 0):
        person = rng.choice(people)
        when = start + timedelta(days=rng.randint(0, days), minutes=n)
        ticket_id = base + n
        thread = []
        for m in range(rng.randint(1, 3)):
            from_agent = m % 2 == 1
            sent = gorgias_datetime(when + timedelta(hours=m))
            thread.append({
                "id": base * 10 + n * 10 + m, "uri": None, "ticket_id": ticket_id, "channel": "email", "via": "email",
                "from_agent": from_agent,
                "sender": {"id": None if from_agent else person["id"],
                           "email": "support@example.test" if from_agent else person["email"],
                           "name": "Support" if from_agent else person["name"]},
                "receiver": None, "subject": None, "body_text": "Thanks, we are on it." if from_agent else "Hello!",
                "body_html": "", "created_datetime": sent, "sent_datetime": sent,
            })  # fmt: skip
        subject = rng.choice(SUBJECTS)
        for message in thread:
            message["subject"] = subject
        status = rng.choice(("open", "closed"))
        tickets.append({
            "id": ticket_id, "uri": f"/api/tickets/{ticket_id}/", "external_id": None, "language": person["language"],
            "status": status, "priority": "normal", "channel": "email", "via": "email", "from_agent": False,
            "customer": {k: person[k] for k in ("id", "email", "name", "firstname", "lastname")},
            "assignee_user": None, "assignee_team": None, "subject": subject, "excerpt": thread[0]["body_text"],
            "tags": [], "messages_count": len(thread), "created_datetime": thread[0]["created_datetime"],
            "opened_datetime": thread[0]["created_datetime"],
            "last_received_message_datetime": thread[0]["created_datetime"],
            "last_message_datetime": thread[-1]["created_datetime"], "updated_datetime": thread[-1]["created_datetime"],
            "closed_datetime": thread[-1]["created_datetime"] if status == "closed" else None,
            "snooze_datetime": None, "spam": False, "meta": {},
        })  # fmt: skip
        messages.extend(thread)
    counts |= {"tickets": len(tickets), "messages": len(messages)}
    with transaction.atomic():
        for kind, records in ((Kind.INTEGRATION, [integration]), (Kind.CUSTOMER, people), (Kind.TICKET, tickets),
                              (Kind.MESSAGE, messages)):  # fmt: skip
            GorgiasRecord.objects.bulk_create(
                record_rows(account=target, kind=kind, records=records),
                batch_size=500,
                update_conflicts=True,
                unique_fields=["account", "kind", "record_id"],
                update_fields=["body", "email", "name", "external_id", "parent_id", "created_at", "updated_at"],
            )
    return {"customers": len(people), "duplicate_customer_names": duplicates, **counts}
