from django.urls import path

from sandbox.gorgias import views

urlpatterns = [
    # The real API lives at https://{domain}.gorgias.com/api/; here the domain is the first path segment.
    path("<slug:domain>/api/<path:endpoint>", views.api, name="sandbox_gorgias_api"),
]
