"""The simulated external world, served under /sandbox/. Each simulator owns its routes."""

from django.urls import include, path

urlpatterns = [
    path("xero/", include("sandbox.xero.urls")),
    path("magento/", include("sandbox.magento.urls")),
    path("cin7/", include("sandbox.cin7.urls")),
    path("gorgias/", include("sandbox.gorgias.urls")),
    path("partner/", include("sandbox.partner.urls")),
]
