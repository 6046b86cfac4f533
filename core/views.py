from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.middleware import error_response


def _queue_state() -> tuple[int, float | None]:
    """How many tasks wait in the broker and how long the oldest has waited (seconds)."""
    if settings.Q_BROKER == "redis":
        from django_q.brokers import get_broker

        return get_broker().queue_size(), None
    from django_q.models import OrmQ

    now = timezone.now()
    waiting = OrmQ.objects.filter(lock__lte=now)
    oldest = waiting.order_by("lock").values_list("lock", flat=True).first()
    depth = OrmQ.objects.count()
    return depth, (now - oldest).total_seconds() if oldest else 0.0


@never_cache
@require_GET
def healthz(request):
    """Liveness and readiness in one: database reachable, task queue flowing."""
    checks = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not reachable"
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
        return JsonResponse({"status": "unhealthy", "checks": checks}, status=503)
    try:
        depth, oldest_age = _queue_state()
        checks["queue_depth"] = depth
        checks["oldest_queued_task_age_seconds"] = round(oldest_age, 1) if oldest_age is not None else None
        limit = timedelta(seconds=settings.HEALTHZ_MAX_QUEUE_AGE_SECONDS).total_seconds()
        if oldest_age is not None and oldest_age > limit:
            healthy = False
            checks["queue"] = f"oldest task has waited more than {int(limit)} s: is a qcluster running?"
    except Exception as exc:
        healthy = False
        checks["queue"] = f"unreachable: {exc.__class__.__name__}"
    status = 200 if healthy else 503
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=status)


def api_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(status=404, code="not_found", message="Not found.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request):
    if request.path.startswith("/api/"):
        return error_response(status=500, code="server_error", message="An unexpected error occurred.")
    from django.views.defaults import server_error

    return server_error(request)
