"""The email summary of a run to the tenant's admins, sent only when something needs action."""

from django.urls import reverse

from reconciliation.models import Mismatch, ReconciliationRun
from reconciliation.selectors import mismatch_list, run_report
from sync.models import Alert
from sync.services.alerts import alert_send

TOP_MISMATCHES = 5


def reconciliation_alert(*, run: ReconciliationRun) -> Alert | None:
    """Email the admins a run's summary when it left open mismatches that need action: counts per class, both
    sides' totals, the largest differences and a link to the report. Informational-only, accepted or auto-healed
    mismatches send nothing. Recorded as an Alert. Needs the tenant's scope."""
    report = run_report(run=run)
    if not report.needs_action:
        return None
    tenant = run.tenant
    open_kinds = (
        Mismatch.objects.filter(tenant_id=run.tenant_id, run=run, state=Mismatch.State.OPEN)
        .exclude(kind__in=Mismatch.INFORMATIONAL)
        .values_list("kind", flat=True)
    )
    labels = dict(Mismatch.Kind.choices)
    by_kind: dict[str, int] = {}
    for kind in open_kinds:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    kinds = sorted(((labels[k], n) for k, n in by_kind.items()), key=lambda pair: (-pair[1], pair[0]))
    top = list(
        mismatch_list(run=run, state=Mismatch.State.OPEN, sort="-difference").exclude(kind__in=Mismatch.INFORMATIONAL)[
            :TOP_MISMATCHES
        ]
    )
    count = report.needs_action
    subject = f"{tenant.name}: reconciliation found {count} difference{'s' if count != 1 else ''} to look at"
    return alert_send(
        tenant=tenant,
        kind=Alert.Kind.RECONCILIATION,
        subject=subject,
        template="reconciliation_summary.txt",
        context={
            "run": run,
            "report": report,
            "kinds": kinds,
            "top": top,
            "count": count,
            "report_path": reverse("reconciliation:report", kwargs={"tenant_id": tenant.pk, "pk": run.pk}),
        },
        counts={"needs_action": count, "by_kind": by_kind, "run": run.pk},
    )


def reconciliation_failure_alert(*, run: ReconciliationRun) -> Alert | None:
    """Email the admins that a scheduled run failed, with its cause in plain words and what happens next; once per
    run (a task delivered twice sends nothing more). On-demand runs show their failure to whoever started them.
    Recorded as an Alert. Needs the tenant's scope."""
    if run.status != ReconciliationRun.Status.FAILED or run.trigger != ReconciliationRun.Trigger.SCHEDULED:
        return None
    if Alert.objects.filter(kind=Alert.Kind.RECONCILIATION_FAILED, counts__run=run.pk).exists():
        return None
    tenant = run.tenant
    return alert_send(
        tenant=tenant,
        kind=Alert.Kind.RECONCILIATION_FAILED,
        subject=f"{tenant.name}: the scheduled reconciliation with Xero could not run",
        template="reconciliation_failed.txt",
        context={
            "run": run,
            "runs_path": reverse("reconciliation:runs", kwargs={"tenant_id": tenant.pk}),
        },
        connection=run.xero_connection,
        counts={"run": run.pk},
    )
