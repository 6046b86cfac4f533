"""This project's web app under gunicorn on a free loopback port, for the benchmarks that need a real server.

bench_webhooks measures the webhook endpoint in it; bench_sync runs the simulated Xero in it, as a server of its own
the way Xero is, rather than inside the drain's process. It starts with config/gunicorn.py (the production layout)
and what the caller overrides, in a session of its own so that its master and workers are found and stopped
together, and it tells the CPU they use.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import CommandError

from core.management.processes import cpu_seconds_of, process_group

STARTUP_SECONDS = 120  # a loaded, shared machine can take a while to start the workers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GunicornServer:
    """`with GunicornServer(env=…, workers=…, threads=…) as server:` serves the project as config/gunicorn.py says
    (config.asgi) on `server.origin`."""

    def __init__(self, *, env: dict, workers: int, threads: int, extra_args: tuple[str, ...] = ()):
        self.env = env
        self.workers = workers
        self.threads = threads
        self.extra_args = extra_args
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self) -> "GunicornServer":
        """Start the server and wait until it answers (stopped again if it never does)."""
        base = Path(settings.BASE_DIR)
        self._process = subprocess.Popen(  # noqa: S603 - a fixed argv of our own, no shell
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--config",
                str(base / "config" / "gunicorn.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--log-level",
                "warning",
                *self.extra_args,
            ],
            env=self.env,
            cwd=base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def cpu_seconds(self) -> dict[int, float]:
        """CPU seconds of the master and each worker so far (compare two readings with cpu_since)."""
        return cpu_seconds_of(process_group(self._process.pid))

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise CommandError("gunicorn exited: " + self._process.stderr.read().decode(errors="replace")[-2000:])
            try:
                httpx.get(self.origin + "/healthz", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise CommandError(f"gunicorn did not answer within {STARTUP_SECONDS} s.")

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=5)
        except ProcessLookupError:
            pass
        self._process = None
