"""The web process's entry point under gunicorn's uvicorn workers (config/gunicorn.py).

The project is a WSGI application (config.wsgi); sync.inbound.asgi.WebhookFront serves it over ASGI, the usual
webhook delivery on the event loop itself, other deliveries with a single hand-off to a thread. `manage.py
runserver` and the tests use config.wsgi directly.
"""

from config import gunicorn
from config.wsgi import application as wsgi_application  # sets Django up first
from sync.inbound.asgi import WebhookFront

# Sized again in each worker from gunicorn's `threads` as the command line left it (post_worker_init).
application = WebhookFront(wsgi_application, threads=gunicorn.threads)
