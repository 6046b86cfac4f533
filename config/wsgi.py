import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()  # sets Django up first: the fast path imports models

from sync.inbound.wsgi import WebhookFastPath  # noqa: E402

# Webhook deliveries go straight to their view (sync.inbound.wsgi); everything else through Django's handler.
application = WebhookFastPath(django_application)
