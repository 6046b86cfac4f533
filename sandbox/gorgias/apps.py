from django.apps import AppConfig


class SandboxGorgiasConfig(AppConfig):
    name = "sandbox.gorgias"
    label = "sandbox_gorgias"
    verbose_name = "Sandbox: gorgias"
