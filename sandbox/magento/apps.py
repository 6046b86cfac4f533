from django.apps import AppConfig


class SandboxMagentoConfig(AppConfig):
    name = "sandbox.magento"
    label = "sandbox_magento"
    verbose_name = "Sandbox: magento"
