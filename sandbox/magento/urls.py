"""Routes of the simulated Magento 2 REST API: /sandbox/magento/rest/[<store_code>/]V1/<endpoint>."""

from django.urls import path, re_path

from sandbox.magento import views

app_name = "sandbox_magento"

urlpatterns = [
    path("rest/V1/<path:endpoint>", views.rest, name="rest_default"),
    re_path(r"^rest/(?P<store_code>[A-Za-z0-9_\-]+)/V1/(?P<endpoint>.+)$", views.rest, name="rest"),
]
