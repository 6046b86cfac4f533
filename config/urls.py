from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import healthz
from tenants import views as tenant_views

admin.site.site_header = "Ledgerbridge console"
admin.site.site_title = "Ledgerbridge"

urlpatterns = [
    # First: the busiest URL by far (every webhook delivery resolves its view, see WebhookShortcutMiddleware).
    path("webhooks/", include("sync.inbound.urls")),
    path("", tenant_views.home, name="home"),
    path("invitations/<str:token>/", tenant_views.invitation_accept, name="invitation_accept"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("tenants.api.urls")),
    path("api/v1/", include("connections.api.urls")),
    path("connections/", include("connections.urls")),
    path("sync/", include("sync.urls")),
    path("api/v1/", include("sync.inbound.api_urls")),
    path("api/v1/", include("sync.api.urls")),
    path("api/v1/", include("mappings.api.urls")),
    path("api/v1/", include("reconciliation.api.urls")),
    path("reconciliation/", include("reconciliation.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))

handler404 = "core.views.api_not_found"
handler500 = "core.views.api_server_error"
