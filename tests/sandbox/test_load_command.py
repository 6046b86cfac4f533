"""Every documented example payload loads into its simulator through `manage.py sandbox_load`, unchanged."""

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

PAYLOADS = settings.SHARED_DIR / "research" / "payloads"


def _load(system, account, name) -> dict:
    out = StringIO()
    call_command("sandbox_load", system, account, str(PAYLOADS / name), stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize(
    "system,account,name,expected",
    [
        ("magento", "docs", "magento_order.json", {"orders": 1}),
        ("magento", "docs", "magento_customer.json", {"customers": 1}),
        ("cin7", "Docs Cin7", "cin7_core_lists.json", {"customers": 2, "sale_list_entries": 2, "payments": 2}),
        ("gorgias", "docs-helpdesk", "gorgias_customer.json", {"customers": 1}),
    ],
)
def test_documented_payloads_load(system, account, name, expected):
    # Cin7 and Gorgias accounts are created first, as a person would with the account commands.
    if system == "cin7":
        call_command("sandbox_cin7_account", "--name", account, "--json", stdout=StringIO())
    if system == "gorgias":
        call_command("sandbox_gorgias_account", "--domain", account, "--json", stdout=StringIO())
    result = _load(system, account, name)
    assert result["system"] == system and result["account"] == account
    assert {kind: result.get(kind) for kind in expected} == expected, result


def test_a_file_that_is_not_json_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("sandbox_load", "magento", "docs", str(bad))
