"""How Magento arrives at its amounts, in Decimal, one currency at a time.

Tax-exclusive stores tax each row after its discount (row-based calculation, "apply customer tax after discount").
Tax-inclusive stores work per unit (unit-based calculation, so row_total is always price x qty) and apply the
discount to the tax-inclusive price; the tax inside that discount is Magento's `discount_tax_compensation_amount`.
So, per row and for the order:

    grand_total = subtotal + shipping_amount + discount_amount + tax_amount + discount_tax_compensation_amount

with `discount_amount` negative on the order and positive on items; the compensation is 0 in exclusive stores.
Base and order currency are each computed from their own unit prices (order price = base price x rate, rounded),
so both sets add up to the cent on their own.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


def cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def convert(base_amount: Decimal, rate: Decimal) -> Decimal:
    """A base-currency amount in the order currency (base_to_order_rate)."""
    return cents(Decimal(base_amount) * Decimal(rate))


@dataclass(frozen=True)
class RowAmounts:
    price: Decimal
    price_incl_tax: Decimal
    row_total: Decimal
    row_total_incl_tax: Decimal
    discount: Decimal  # positive, as Magento writes it on items
    tax: Decimal
    compensation: Decimal  # tax hidden in an inclusive discount

    @property
    def payable(self) -> Decimal:
        return self.row_total + self.tax + self.compensation - self.discount


def row_amounts(*, unit_price: Decimal, qty: int, tax_percent: Decimal, discount_percent: Decimal, inclusive: bool):
    """One order row from its catalog unit price (tax-inclusive when the store's prices include tax)."""
    qty = Decimal(qty)
    r = Decimal(tax_percent) / HUNDRED
    if inclusive:
        price_incl = cents(unit_price)
        price = cents(price_incl / (1 + r))
        row_total = price * qty
        row_incl = price_incl * qty
        full_tax = row_incl - row_total
        discount = cents(row_incl * discount_percent / HUNDRED)
        compensation = cents(discount * r / (1 + r))
        tax = full_tax - compensation
    else:
        price = cents(unit_price)
        price_incl = cents(price * (1 + r))
        row_total = price * qty
        discount = cents(row_total * discount_percent / HUNDRED)
        tax = cents((row_total - discount) * r)
        row_incl = row_total + cents(row_total * r)
        compensation = ZERO
    return RowAmounts(
        price=price,
        price_incl_tax=price_incl,
        row_total=cents(row_total),
        row_total_incl_tax=cents(row_incl),
        discount=discount,
        tax=cents(tax),
        compensation=compensation,
    )


@dataclass(frozen=True)
class ShippingAmounts:
    amount: Decimal
    tax: Decimal
    incl_tax: Decimal


def shipping_amounts(*, price: Decimal, tax_percent: Decimal, inclusive: bool) -> ShippingAmounts:
    r = Decimal(tax_percent) / HUNDRED
    if inclusive:
        incl = cents(price)
        amount = cents(incl / (1 + r))
        return ShippingAmounts(amount=amount, tax=incl - amount, incl_tax=incl)
    amount = cents(price)
    tax = cents(amount * r)
    return ShippingAmounts(amount=amount, tax=tax, incl_tax=amount + tax)


def share(total: Decimal, part, whole) -> Decimal:
    """`total` x part/whole, rounded: the amount a partial invoice or refund of `part` of `whole` units carries."""
    if not whole:
        return ZERO
    return cents(Decimal(total) * Decimal(part) / Decimal(whole))


def grand_total(*, subtotal, shipping, discount, tax, compensation, adjustment=ZERO) -> Decimal:
    """Magento's grand total; `discount` is the negative header amount."""
    return cents(subtotal + shipping + discount + tax + compensation + adjustment)
