"""core.statistics: a table loaded in bulk is analysed once, so the planner sees its new size; a fresh one is not."""

import pytest
from django.db import connection, transaction

from core import statistics
from core.statistics import statistics_refresh_if_stale
from tenants.models import Agency
from tests.factories import AgencyFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres(is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("planner statistics are PostgreSQL's")
    monkeypatch.setattr(statistics, "STALE_ROWS", 20)
    monkeypatch.setattr(statistics, "CHECK_INTERVAL", 0)
    _sql("ANALYZE tenants_agency")


def _sql(statement: str):
    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone() if cursor.description else None


def _flush_counters() -> None:
    """Make this backend's pending table counters visible now (PostgreSQL reports them at most once a second)."""
    _sql("SELECT pg_stat_force_next_flush()")
    _sql("SELECT 1")


def _planner_rows() -> float:
    return _sql("SELECT reltuples FROM pg_class WHERE relname = 'tenants_agency'")[0]


def test_a_table_loaded_in_bulk_is_analysed_once_and_the_planner_sees_its_size(postgres):
    AgencyFactory.create_batch(30)
    AgencyFactory.create_batch(30)
    _flush_counters()

    assert statistics_refresh_if_stale(Agency) == ["tenants_agency"]
    assert _planner_rows() == Agency.objects.count() == 60

    _flush_counters()
    assert statistics_refresh_if_stale(Agency) == []  # nothing changed since


def test_a_few_changes_do_not_cost_an_analysis(postgres):
    AgencyFactory.create_batch(5)
    _flush_counters()

    assert statistics_refresh_if_stale(Agency) == []


def test_the_tables_are_looked_at_once_in_an_interval(postgres, monkeypatch):
    monkeypatch.setattr(statistics, "CHECK_INTERVAL", 3600)
    assert statistics_refresh_if_stale(Agency) == []
    AgencyFactory.create_batch(30)
    _flush_counters()

    assert statistics_refresh_if_stale(Agency) == []  # looked at a moment ago: not again yet


def test_nothing_is_analysed_inside_a_transaction(postgres):
    AgencyFactory.create_batch(30)
    _flush_counters()

    with transaction.atomic():
        # ANALYZE would hold its lock until the end of the caller's transaction.
        assert statistics_refresh_if_stale(Agency) == []
    assert statistics_refresh_if_stale(Agency) == ["tenants_agency"]


def test_rows_rewritten_in_place_do_not_cost_an_analysis(postgres):
    """Jobs moving from state to state rewrite their rows: the table's size, which the planner needs, stays."""
    AgencyFactory.create_batch(30)
    _flush_counters()
    assert statistics_refresh_if_stale(Agency) == ["tenants_agency"]
    for name in ("renamed", "renamed again", "and again"):
        Agency.objects.update(name=name)
    _flush_counters()

    assert statistics_refresh_if_stale(Agency) == []


def test_a_table_emptied_in_bulk_is_analysed(postgres):
    AgencyFactory.create_batch(60)
    _flush_counters()
    assert statistics_refresh_if_stale(Agency) == ["tenants_agency"]
    Agency.objects.all().delete()
    _flush_counters()

    assert statistics_refresh_if_stale(Agency) == ["tenants_agency"]
    assert _planner_rows() == 0


def test_an_analysis_samples_a_tenth_of_the_default(postgres):
    """3,000 rows, not 30,000: at the default each analysis of a job table read every job with its record. What it
    keeps shows it: a histogram of 11 bounds (SAMPLE_TARGET + 1) for 60 distinct names, where the default keeps 60."""
    AgencyFactory.create_batch(60)
    _flush_counters()
    setting = _sql("SHOW default_statistics_target")

    assert statistics_refresh_if_stale(Agency) == ["tenants_agency"]

    bounds = _sql(
        "SELECT array_length(histogram_bounds, 1) FROM pg_stats WHERE tablename = 'tenants_agency' AND attname = 'name'"
    )
    assert bounds == (statistics.SAMPLE_TARGET + 1,)
    # The session's own setting is as it was.
    assert _sql("SHOW default_statistics_target") == setting
