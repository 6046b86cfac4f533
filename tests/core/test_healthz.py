from datetime import timedelta

from django.utils import timezone
from django_q.models import OrmQ


def test_healthz_reports_database_and_empty_queue(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["queue_depth"] == 0


def test_healthz_is_503_when_tasks_wait_too_long(client, db, settings):
    settings.HEALTHZ_MAX_QUEUE_AGE_SECONDS = 60
    OrmQ.objects.create(key="ledgerbridge", payload="x", lock=timezone.now() - timedelta(minutes=5))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["queue_depth"] == 1
    assert body["checks"]["oldest_queued_task_age_seconds"] >= 299
