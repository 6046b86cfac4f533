from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.db import connections

        from core import lookups  # noqa: F401 - registers the `any` lookup

        if any(connections[alias].vendor == "postgresql" for alias in connections):
            from core import postgres_arrays

            postgres_arrays.register()
