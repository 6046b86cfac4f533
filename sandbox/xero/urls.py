"""Routes of the simulated Xero, mirroring its hosts:

identity.xero.com              → /sandbox/xero/identity/
login.xero.com/identity/...    → /sandbox/xero/identity/connect/authorize
api.xero.com/connections       → /sandbox/xero/connections
api.xero.com/api.xro/2.0/      → /sandbox/xero/api.xro/2.0/
"""

from django.urls import path, re_path

from sandbox.xero.views import api, identity

app_name = "sandbox_xero"

urlpatterns = [
    path("identity/connect/authorize", identity.authorize, name="authorize"),
    path("identity/connect/token", identity.token, name="token"),
    path("identity/connect/revocation", identity.revocation, name="revocation"),
    re_path(r"^[cC]onnections/?$", identity.connections, name="connections"),
    re_path(r"^[cC]onnections/(?P<connection_id>[0-9a-fA-F-]{36})/?$", identity.connection_detail, name="connection"),
    re_path(r"^api\.xro/2\.0/(?P<path>.*)$", api.api_xro, name="api"),
]
