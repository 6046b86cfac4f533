"""Inbound webhooks: /webhooks/<provider>/<connection token>/."""

urlpatterns = []
