"""gunicorn settings for the web process: `gunicorn -c config/gunicorn.py`.

Sized for a small host: one worker process per core. Each is a uvicorn worker: an event loop that parses HTTP in C
and keeps clients' connections alive (Xero and partners send webhooks in bursts). The usual webhook delivery is
stored and answered on that loop, the deliveries that arrive while one commits sharing the next statement; every
other request runs the WSGI application in a pool of `threads` threads (config.asgi, sync.inbound.asgi), so a
request waiting on PostgreSQL leaves its process free to run another.
`bench_webhooks` runs with this file; WEB_CONCURRENCY and GUNICORN_THREADS, or the command line, override it.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
wsgi_app = "config.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
# Threads per worker: the pool of config.asgi's application (uvicorn itself ignores this setting).
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
keepalive = 30
# A listening socket per worker (SO_REUSEPORT): the kernel spreads new connections evenly over the workers. With
# the one shared socket, whichever worker woke first accepted: 50 senders connecting at once ended up 40 on one
# worker and 10 on the other, and the busy one's core set everyone's latency while the other idled.
reuse_port = True
# A worker that stops answering (a stuck request) is replaced; Xero gives up on a webhook after 5 s anyway.
timeout = 30


def post_worker_init(worker):
    """Each worker sizes its application's thread pool, and writes its tally of accepted webhook deliveries about
    once a second (sync.services.inbox)."""
    from sync.services.inbox import webhook_counts_flusher_start

    if hasattr(worker.wsgi, "threads_set"):  # config.asgi; a WSGI worker class sizes its own threads
        worker.wsgi.threads_set(worker.cfg.threads)
    webhook_counts_flusher_start()


def worker_exit(server, worker):
    """A worker that stops (a restart, a deploy) writes the deliveries it has counted and not yet written."""
    if worker.pid != os.getpid():
        return  # the master reaping a worker that is already gone: its counts went with it
    from sync.services.inbox import webhook_counts_flush

    try:
        webhook_counts_flush()
    except Exception:
        server.log.exception("writing the webhook delivery counts at exit failed")
