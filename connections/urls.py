"""Web pages for connections: the OAuth redirect flow and the tenant's connection pages."""

from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("tenants/<int:tenant_id>/", views.tenant_connections, name="tenant"),
    path("tenants/<int:tenant_id>/xero/connect/", views.xero_connect, name="xero_connect"),
    path("tenants/<int:tenant_id>/xero/choose/", views.xero_choose, name="xero_choose"),
    path("tenants/<int:tenant_id>/add/<slug:provider_id>/", views.connection_add, name="add"),
    path("tenants/<int:tenant_id>/<int:pk>/test/", views.connection_test, name="test"),
    path("tenants/<int:tenant_id>/<int:pk>/refresh-reference/", views.connection_refresh_reference, name="refresh"),
    path("tenants/<int:tenant_id>/<int:pk>/disconnect/", views.connection_disconnect, name="disconnect"),
    # Registered on the Xero app as the redirect URI: it must not change.
    path("xero/callback/", views.xero_callback, name="xero_callback"),
]
