"""Load benchmark of the Xero webhook endpoint against a production-like server.

    python manage.py bench_webhooks --senders 50 --seconds 10 --json

Creates a scratch PostgreSQL database next to the configured one, migrates it, gives it one tenant with a Xero
connection, starts gunicorn on a free loopback port with production settings (DJANGO_ENV=production, a generated
SECRET_KEY and Fernet key, DEBUG and the sandbox off, ALLOWED_HOSTS=127.0.0.1), sends signed Xero deliveries
(one new event each, so every request stores a row and enqueues its processing) from N concurrent senders for a
bounded time, then stops the server, drops the database and prints one JSON object:
{"requests", "seconds", "requests_per_second", "p50_ms", "p99_ms", "errors", …}.
Latency is measured by the sender, from request sent to response read, over loopback.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SETUP = """
from connections.models import Connection
from tenants.models import Agency, Tenant
from tenants.scoping import tenant_scope
agency = Agency.objects.create(name="Bench agency", slug="bench-agency")
tenant = Tenant.objects.create(agency=agency, name="Bench tenant", slug="bench-tenant", country="AU",
                               base_currency="AUD", timezone="Australia/Sydney")
with tenant_scope(tenant):
    connection = Connection.objects.create(tenant=tenant, provider="xero", display_name="Bench org",
                                           status="active", external_account_id="{org}")
print("TOKEN=" + connection.webhook_token)
"""
COUNT = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM sync_inboundevent")
    print("EVENTS=%d" % cursor.fetchone()[0])
"""
MAX_REQUESTS_PER_SENDER = 100_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Command(BaseCommand):
    help = "Send signed Xero webhook deliveries from concurrent senders to a production-like gunicorn server."

    def add_arguments(self, parser):
        parser.add_argument("--senders", type=int, default=50)
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2)
        parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads per worker")
        parser.add_argument("--events-per-delivery", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument("--keep-db", action="store_true", help="keep the scratch database for inspection")

    def handle(self, *args, **options):
        senders, seconds = options["senders"], options["seconds"]
        if not 1 <= senders <= 500 or not 0 < seconds <= 600:
            raise CommandError("--senders must be 1..500 and --seconds 0..600.")
        database = settings.DATABASES["default"]
        if not database["ENGINE"].endswith("postgresql"):
            raise CommandError("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
        self.quiet = options["json"]
        bench_db = f"{database['NAME']}_bench_webhooks_{secrets.token_hex(3)}"
        url = (
            f"postgres://{database.get('USER') or 'postgres'}"
            f"{':' + database['PASSWORD'] if database.get('PASSWORD') else ''}"
            f"@{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}/{bench_db}"
        )
        webhook_key = secrets.token_urlsafe(48)
        org = str(uuid.uuid4())
        env = {
            **os.environ,
            "DJANGO_ENV": "production",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SANDBOX_ENABLED": "false",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": url,
            "XERO_WEBHOOK_KEY": webhook_key,
            "LOG_LEVEL": "ERROR",
            "EMAIL_URL": "consolemail://",
            "PYTHONUNBUFFERED": "1",
        }
        base = Path(settings.BASE_DIR)
        python = sys.executable
        self._admin_sql(database, f'CREATE DATABASE "{bench_db}"')
        server = None
        access_log = Path(tempfile.mkdtemp(prefix="bench_webhooks_")) / "access.log"
        try:
            self._log(f"migrating scratch database {bench_db} …")
            self._run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env, base)
            token = self._run([python, "manage.py", "shell", "-c", SETUP.format(org=org)], env, base)
            token = token.split("TOKEN=", 1)[1].strip()
            port = _free_port()
            server = subprocess.Popen(  # noqa: S603 - a fixed argv of our own, no shell
                [
                    str(Path(python).parent / "gunicorn"),
                    "config.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(options["workers"]),
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(options["threads"]),
                    "--log-level",
                    "warning",
                    "--keep-alive",
                    "30",
                    # The server's own time per request (µs), next to what the senders measure.
                    "--access-logfile",
                    str(access_log),
                    "--access-logformat",
                    "%(D)s",
                ],
                env=env,
                cwd=base,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            origin = f"http://127.0.0.1:{port}"
            self._wait_until_up(origin, server)
            path = f"/webhooks/xero/{token}/"
            self._log(
                f"server up on {origin} ({options['workers']} workers × {options['threads']} threads); warming up …"
            )
            self._load(origin, path, webhook_key, org, senders=min(senders, 8), seconds=1.0, per=1)
            warm = _log_lines(access_log)
            self._log(f"sending from {senders} senders for {seconds:g} s …")
            cpu_before = os.times()
            result = self._load(
                origin, path, webhook_key, org, senders=senders, seconds=seconds, per=options["events_per_delivery"]
            )
            cpu = os.times()
            # The senders run in this process on the same cores as the server: how much CPU they took.
            result["senders_cpu_seconds"] = round((cpu.user - cpu_before.user) + (cpu.system - cpu_before.system), 2)
            time.sleep(0.5)  # gunicorn writes its access log after the response
            server_ms = sorted(int(line) / 1000 for line in _log_lines(access_log)[len(warm) :] if line.isdigit())
            # From the request parsed to the response written, inside gunicorn (queueing before it is not included).
            result["server_p50_ms"] = round(_percentile(server_ms, 0.50), 2)
            result["server_p99_ms"] = round(_percentile(server_ms, 0.99), 2)
            result["events_stored"] = int(
                self._run([python, "manage.py", "shell", "-c", COUNT], env, base).split("EVENTS=", 1)[1]
            )
            result.update(
                senders=senders,
                gunicorn_workers=options["workers"],
                gunicorn_threads=options["threads"],
                events_per_delivery=options["events_per_delivery"],
                cpus=os.cpu_count(),
                # The machine may be shared: the load before and after says how much of it the run had.
                load_average_1m=round(os.getloadavg()[0], 2),
            )
        finally:
            if server is not None:
                self._stop(server)
            shutil.rmtree(access_log.parent, ignore_errors=True)
            if not options["keep_db"]:
                self._admin_sql(database, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        self.stdout.write(json.dumps(result))

    # Load ------------------------------------------------------------------------------------------------------

    def _load(self, origin, path, key, org, *, senders: int, seconds: float, per: int) -> dict:
        latencies: list[list[float]] = [[] for _ in range(senders)]
        errors = [0] * senders
        error_samples: list[str] = []
        deadline = [0.0]  # set by the main thread just before the senders are released together
        start = threading.Barrier(senders + 1)

        def sender(n: int):
            with httpx.Client(base_url=origin, timeout=10.0) as client:
                start.wait()
                for _ in range(MAX_REQUESTS_PER_SENDER):
                    if time.monotonic() >= deadline[0]:
                        break
                    body = _delivery(org, per)
                    signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
                    began = time.perf_counter()
                    try:
                        response = client.post(
                            path,
                            content=body,
                            headers={"Content-Type": "application/json", "x-xero-signature": signature},
                        )
                        elapsed = time.perf_counter() - began
                        if response.status_code != 200 or response.content:
                            errors[n] += 1
                            if len(error_samples) < 5:
                                error_samples.append(f"{response.status_code} {response.text[:120]}")
                        else:
                            latencies[n].append(elapsed)
                    except httpx.HTTPError as exc:
                        errors[n] += 1
                        if len(error_samples) < 5:
                            error_samples.append(f"{type(exc).__name__}: {exc}"[:160])

        threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(senders)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        deadline[0] = began + seconds
        start.wait()
        for thread in threads:
            thread.join(timeout=seconds + 30)
        elapsed = time.monotonic() - began
        flat = sorted(value for values in latencies for value in values)
        total = len(flat) + sum(errors)
        return {
            "requests": total,
            "seconds": round(elapsed, 3),
            "requests_per_second": round(total / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(_percentile(flat, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(flat, 0.99) * 1000, 2),
            "max_ms": round(flat[-1] * 1000, 2) if flat else 0.0,
            "errors": sum(errors),
            "error_samples": error_samples,
        }

    # Server and database ---------------------------------------------------------------------------------------

    def _wait_until_up(self, origin: str, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError("gunicorn exited: " + server.stderr.read().decode(errors="replace")[-2000:])
            try:
                httpx.get(origin + "/healthz", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise CommandError("gunicorn did not answer within 30 s.")

    def _stop(self, server: subprocess.Popen) -> None:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        except ProcessLookupError:
            pass

    def _run(self, command: list[str], env: dict, cwd: Path) -> str:
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)  # noqa: S603
        if done.returncode != 0:
            raise CommandError(f"{' '.join(command[1:3])} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def _admin_sql(self, database: dict, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=database.get("HOST") or "127.0.0.1",
            port=database.get("PORT") or 5432,
            user=database.get("USER") or "postgres",
            password=database.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(sql)

    def _log(self, message: str) -> None:
        if not self.quiet:
            self.stderr.write(message)


def _delivery(org: str, events: int) -> bytes:
    """A Xero delivery of `events` new INVOICE.UPDATE events (fresh ids, so none is a redelivery)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    payload = {
        "events": [
            {
                "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource}",
                "resourceId": resource,
                "eventDateUtc": now,
                "eventType": "UPDATE",
                "eventCategory": "INVOICE",
                "tenantId": org,
                "tenantType": "ORGANISATION",
            }
            for resource in (str(uuid.uuid4()) for _ in range(events))
        ],
        "firstEventSequence": 1,
        "lastEventSequence": events,
        "entropy": secrets.token_hex(10).upper(),
    }
    return json.dumps(payload, separators=(",", ":")).encode()
