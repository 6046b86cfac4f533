"""Inbound webhooks: /webhooks/<provider>/<connection token>/."""

from django.urls import path

from sync.inbound.webhooks import webhook_receive

app_name = "webhooks"

urlpatterns = [
    path("<slug:provider>/<str:token>/", webhook_receive, name="receive"),
]
