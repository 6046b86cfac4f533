"""gunicorn settings for the web process: `gunicorn -c config/gunicorn.py config.wsgi:application`.

Sized for a small host: one worker process for every two cores, with 16 threads, so a request waiting on PostgreSQL
(every webhook's commit waits for the disk) leaves its process free to run another; the webhook deliveries a
process's threads store at the same moment share one statement and one commit (sync.services.group_commit). Threads
(gthread) also keep connections alive, so Xero and partners sending bursts of webhooks reuse theirs.

Why not a process per core: a delivery spends most of its time waiting for its commit, and a statement costs the
worker nearly as much CPU for one delivery as for eight (0.64 and 0.78-1.02 ms here), so the size of the groups
decides the CPU per delivery. On 2 cores, one process of 16 threads groups twice the deliveries that each of two
processes of 8 does. `bench_webhooks --senders 50`, six alternated pairs on a shared machine (load 10-21): in five,
1 x 16 spent 11-32% less gunicorn CPU and 41-55% less PostgreSQL CPU per delivery than 2 x 8 (e.g. 0.85 against
1.09 ms and 0.16 against 0.28 ms; p99 268 against 403 ms), at as many deliveries a second or more; in one (load 17,
a test suite running beside) 42% more gunicorn CPU and the same PostgreSQL CPU. A host whose web process has cores
of its own (PostgreSQL elsewhere) may want WEB_CONCURRENCY at its core count.
`bench_webhooks` runs with this file; WEB_CONCURRENCY and GUNICORN_THREADS, or the command line, override it.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
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
