from decimal import Decimal

import pytest

from core.money import from_json_number, json_amount, quantize


def test_amounts_are_rounded_half_up_to_the_cent_exactly():
    assert json_amount(12.345) == Decimal("12.35")  # a float from json.loads, read as the text the source wrote
    assert json_amount("0.005") == Decimal("0.01")
    assert json_amount(None) == Decimal("0.00")
    assert quantize(Decimal("-2.675")) == Decimal("-2.68")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN", float("nan"), float("inf")])
def test_an_amount_that_is_not_a_number_is_refused_not_carried(value):
    # Decimal reads these; a ledger cannot hold them, and written as JSON a NaN would become null.
    with pytest.raises(ValueError, match="not a decimal amount"):
        json_amount(value)
    with pytest.raises(ValueError, match="not a decimal amount"):
        from_json_number(value)
