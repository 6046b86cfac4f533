"""gunicorn settings for the web process: `gunicorn -c config/gunicorn.py config.wsgi:application`.

Sized for a small host: one worker process per core, each with threads, so a request waiting on PostgreSQL (every
webhook's commit waits for the disk) leaves its process free to run another; the webhook deliveries a process's
threads store at the same moment share one statement and one commit (sync.services.group_commit). Threads
(gthread) also keep connections alive, so Xero and partners sending bursts of webhooks reuse theirs.
`bench_webhooks` runs with this file; WEB_CONCURRENCY and GUNICORN_THREADS, or the command line, override it.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
keepalive = 30
# A worker that stops answering (a stuck request) is replaced; Xero gives up on a webhook after 5 s anyway.
timeout = 30


def post_worker_init(worker):
    """Each worker writes its tally of accepted webhook deliveries about once a second (sync.services.inbox)."""
    from sync.services.inbox import webhook_counts_flusher_start

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
