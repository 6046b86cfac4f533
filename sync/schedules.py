"""The recurring work, registered with django-q2's scheduler (idempotently, at migrate time and by `make run`)."""

SCHEDULES = (
    # (name, function, minutes)
    ("Drain due jobs", "sync.tasks.drains_due_task", 1),
    ("Send due write-backs", "sync.tasks.write_backs_due_task", 1),
    ("Sweep stuck work", "sync.tasks.sweep_task", 5),
    ("Poll sources", "sync.tasks.poll_sources_task", 15),
    ("Poll Xero invoice status", "sync.tasks.xero_invoices_poll_task", 15),
    ("Alerts", "sync.tasks.alerts_task", 5),
    ("Release fixed jobs", "sync.tasks.needs_attention_recheck_task", 5),
    ("Xero contacts: initial imports", "sync.tasks.xero_contacts_imports_due_task", 5),
    # Xero has no item webhooks: tracked items' quantities are polled where Xero is the inventory master.
    ("Xero stock levels", "sync.tasks.xero_stock_poll_task", 15),
    ("Idle connections", "connections.tasks.connections_idle_sweep_task", 24 * 60),
    # Refresh tokens die after 60 days unused: refresh any older than a week.
    ("Xero token refresh", "connections.providers.xero.tasks.xero_tokens_refresh_idle_task", 24 * 60),
    # Each tenant is reconciled at its own local time; this only notices whose time has come.
    ("Reconciliation", "reconciliation.tasks.reconciliations_due_task", 15),
)


def schedules_ensure() -> int:
    """Create or update every schedule; returns how many exist."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
    return len(SCHEDULES)
