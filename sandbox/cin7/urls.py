from django.urls import re_path

from sandbox.cin7 import views

urlpatterns = [
    # Cin7 documents both /ExternalApi/v2/ and /externalapi/v2/; endpoint names are case-insensitive too.
    re_path(r"^[Ee]xternal[Aa]pi/v2/(?P<endpoint>.+)$", views.api, name="sandbox_cin7_api"),
]
