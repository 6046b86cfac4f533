from decimal import Decimal

import pytest

from core import jsonexact


def test_fractions_read_as_exact_decimals_and_write_back_with_their_digits():
    answer = jsonexact.loads(b'{"Total":123.4500,"Lines":[{"Quantity":2,"UnitAmount":0.1}],"Rate":1E+2}')

    assert answer == {
        "Total": Decimal("123.4500"),
        "Lines": [{"Quantity": 2, "UnitAmount": Decimal("0.1")}],
        "Rate": Decimal("1E+2"),
    }
    assert jsonexact.dumps({"Total": answer["Total"]}) == '{"Total":123.4500}'


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_an_answer_with_a_number_that_is_not_one_is_refused(literal):
    """NaN and Infinity are not JSON: read as floats they would reach an audit entry or a payload as no amount."""
    with pytest.raises(ValueError, match="is not a JSON number"):
        jsonexact.loads(f'{{"Total": {literal}}}'.encode())
