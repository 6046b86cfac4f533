from django.apps import AppConfig


class SandboxCin7Config(AppConfig):
    name = "sandbox.cin7"
    label = "sandbox_cin7"
    verbose_name = "Sandbox: cin7"
