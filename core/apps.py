from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.allocator import allocator_configure

        # Before the app's work starts, in every process (web, workers, management commands) alike.
        allocator_configure()
        from django.db import connections
        from django_q.signals import post_spawn

        from core import lookups  # noqa: F401 - registers the `any` lookup
        from core.warmup import heap_freeze, url_configuration_load

        post_spawn.connect(url_configuration_load, dispatch_uid="core.url_configuration_load")
        # Last: it freezes what the receivers before it loaded.
        post_spawn.connect(heap_freeze, dispatch_uid="core.heap_freeze")

        if any(connections[alias].vendor == "postgresql" for alias in connections):
            from core import postgres_arrays

            postgres_arrays.register()
