"""bench_reconcile at a small size: every injected discrepancy is found, nothing else is, at the minimum calls."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_reconcile_finds_exactly_what_was_injected():
    out = StringIO()
    call_command("bench_reconcile", "--records", "150", "--seed", "3", "--in-process", "--json", stdout=out)
    result = json.loads(out.getvalue())

    assert {
        "records",
        "seconds",
        "peak_rss_mb",
        "xero_calls",
        "min_xero_calls",
        "mismatches_injected",
        "mismatches_found",
        "false_positives",
        "false_negatives",
    } <= set(result)
    assert result["status"] == "done"
    assert result["mismatches_injected"] >= 15  # at least one of every class the bench injects
    assert result["false_positives"] == 0, result["unexpected_sample"]
    assert result["false_negatives"] == 0, result["missed_sample"]
    assert result["xero_calls"] == result["min_xero_calls"]
    assert len(result["found_by_kind"]) == 15


def test_a_saved_world_reconciles_again_with_the_same_findings(tmp_path, is_postgres):
    """Also, on PostgreSQL: the planner's statistics are refreshed once the world is loaded (the run is measured on
    them). The refresh is PostgreSQL's ANALYZE, which bench_reconcile runs only there; on SQLite (a local `make
    test`) saving and reusing a world is checked all the same."""
    if is_postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_reset()")
    saved = tmp_path / "world.json"
    first, again = StringIO(), StringIO()
    call_command(
        "bench_reconcile", "--records", "120", "--seed", "5", "--in-process", "--save-world", str(saved), stdout=first
    )
    call_command("bench_reconcile", "--reuse-world", str(saved), "--in-process", stdout=again)
    first, again = json.loads(first.getvalue()), json.loads(again.getvalue())

    assert again["status"] == "done"
    assert again["false_positives"] == again["false_negatives"] == 0
    for key in ("mismatches_injected", "mismatches_found", "found_by_kind", "xero_calls", "min_xero_calls"):
        assert again[key] == first[key], key
    assert again["cpu_seconds"] > 0
    if not is_postgres:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL AND relname IN "
            "('sandbox_magento_order', 'sandbox_xero_invoice', 'sync_crossreference')"
        )
        assert len(cursor.fetchall()) == 3
