"""django-q2 entry points. Nothing is scheduled here yet: the scheduler issue registers them.

connections.tasks.connections_idle_sweep_task   daily: warn idle connections, disconnect at 60 days
"""

from connections import services


def connections_idle_sweep_task() -> dict:
    """Daily: warn the admins of connections idle for 53 days and disconnect those idle for 60 (each email once)."""
    return services.connections_idle_sweep()
