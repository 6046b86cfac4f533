"""How Cin7 Core computes the amounts of a sale task (order, invoice or credit note).

Our reading of the Sale Line Model (sources.md §3.4), applied the same way everywhere in the simulator:
- a line's `Discount` is a percentage; `Total = round(Quantity x Price x (1 - Discount/100), 2)`;
- `Tax` is an amount per line, rounded per line: `round(Total x rate, 2)` when the sale is tax-exclusive and
  `round(Total x rate / (1 + rate), 2)` when it is tax-inclusive (the line Total then already holds the tax);
- additional charges (freight, surcharges) are computed exactly like lines;
- a task's `Tax` is the sum of its line and charge taxes; tax-exclusive: `TotalBeforeTax` is the sum of the line
  and charge totals and `Total = TotalBeforeTax + Tax`; tax-inclusive: `Total` is that sum and
  `TotalBeforeTax = Total - Tax`.
Rounding is half up, as Cin7 and Xero both round.
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal("100")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amounts(*, quantity: Decimal, price: Decimal, discount: Decimal, percent: Decimal, inclusive: bool):
    """(Total, Tax) of one line or additional charge."""
    total = cents(quantity * price * (HUNDRED - discount) / HUNDRED)
    # Inclusive: the line total already holds the tax, so the tax is its rate/(1+rate) share.
    tax = cents(total * percent / (HUNDRED + percent)) if inclusive else cents(total * percent / HUNDRED)
    return total, tax


def task_totals(*, lines, charges, inclusive: bool):
    """(TotalBeforeTax, Tax, Total) of a task from its lines' and charges' `Total` and `Tax`."""
    amount = sum((Decimal(str(x["Total"])) for x in [*lines, *charges]), Decimal("0"))
    tax = sum((Decimal(str(x["Tax"])) for x in [*lines, *charges]), Decimal("0"))
    if inclusive:
        return cents(amount - tax), cents(tax), cents(amount)
    return cents(amount), cents(tax), cents(amount + tax)
