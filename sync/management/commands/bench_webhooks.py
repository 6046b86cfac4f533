"""Load benchmark of the Xero webhook endpoint against a production-like server.

    python manage.py bench_webhooks --senders 50 --seconds 10 --json

Creates a scratch PostgreSQL database next to the configured one, migrates it, gives it one tenant with a Xero
connection, starts gunicorn on a free loopback port with the production settings (config/gunicorn.py,
DJANGO_ENV=production, a generated SECRET_KEY and Fernet key, DEBUG and the sandbox off, ALLOWED_HOSTS=127.0.0.1),
sends signed Xero deliveries (one new event each, so every request stores a row and makes sure its processing is
queued) from N concurrent closed-loop senders for a bounded time, then stops the server, drops the database and
prints one JSON object: {"requests", "seconds", "requests_per_second", "p50_ms", "p99_ms", "errors",
"cpu_ms_per_request", "load_average_1m", …}.

Latency is measured by the senders, from request written to response read, over loopback. The server runs as in
production (config/gunicorn.py: uvicorn workers, config.asgi), without an access log. The senders share the
machine's cores with the server, so their CPU, gunicorn's and PostgreSQL's are printed too: on a shared machine the
CPU per request compares runs where wall-clock figures cannot.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import gunicorn as gunicorn_settings
from core.management.gunicorn_server import GunicornServer
from core.management.processes import cpu_seconds_of, cpu_since

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
SENDERS_IMPLEMENTATION = (
    "closed-loop senders as asyncio tasks in the benchmark's own process, each on one keep-alive HTTP/1.1 "
    "connection (raw streams), each request a new signed delivery; latency from request written to response read"
)


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
        # The production settings (config/gunicorn.py) unless told otherwise.
        parser.add_argument("--workers", type=int, default=gunicorn_settings.workers)
        parser.add_argument("--threads", type=int, default=gunicorn_settings.threads, help="threads per worker")
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
        try:
            self._log(f"migrating scratch database {bench_db} …")
            self._run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env, base)
            token = self._run([python, "manage.py", "shell", "-c", SETUP.format(org=org)], env, base)
            token = token.split("TOKEN=", 1)[1].strip()
            server = GunicornServer(
                env=env,
                workers=options["workers"],
                threads=options["threads"],
            ).start()
            origin = server.origin
            path = f"/webhooks/xero/{token}/"
            self._log(
                f"server up on {origin} ({options['workers']} workers × {options['threads']} threads); warming up …"
            )
            self._load(origin, path, webhook_key, org, senders=min(senders, 8), seconds=1.0, per=1)
            self._log(f"sending from {senders} senders for {seconds:g} s …")
            cpu_before = os.times()
            server_before = server.cpu_seconds()
            database_before = cpu_seconds_of(self._database_pids(database, bench_db))
            result = self._load(
                origin, path, webhook_key, org, senders=senders, seconds=seconds, per=options["events_per_delivery"]
            )
            cpu = os.times()
            # CPU seconds each side spent, whatever else runs on a shared machine: the senders (this process),
            # gunicorn (master and workers) and PostgreSQL (the backends serving the scratch database).
            result["senders_cpu_seconds"] = round((cpu.user - cpu_before.user) + (cpu.system - cpu_before.system), 2)
            # A backend or worker that started during the run counts in full.
            result["server_cpu_seconds"] = cpu_since(server_before, server.cpu_seconds())
            result["database_cpu_seconds"] = cpu_since(
                database_before, cpu_seconds_of(self._database_pids(database, bench_db))
            )
            if result["requests"]:
                result["cpu_ms_per_request"] = {
                    side: round(1000 * result[f"{side}_cpu_seconds"] / result["requests"], 3)
                    for side in ("senders", "server", "database")
                }
            result["events_stored"] = int(
                self._run([python, "manage.py", "shell", "-c", COUNT], env, base).split("EVENTS=", 1)[1]
            )
            result.update(
                senders=senders,
                senders_implementation=SENDERS_IMPLEMENTATION,
                gunicorn_worker_class=gunicorn_settings.worker_class,
                gunicorn_workers=options["workers"],
                gunicorn_threads=options["threads"],
                events_per_delivery=options["events_per_delivery"],
                cpus=os.cpu_count(),
                # The machine may be shared: the load before and after says how much of it the run had.
                load_average_1m=round(os.getloadavg()[0], 2),
            )
        finally:
            if server is not None:
                server.stop()
            if not options["keep_db"]:
                self._admin_sql(database, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        self.stdout.write(json.dumps(result))

    # Load ------------------------------------------------------------------------------------------------------

    def _load(self, origin, path, key, org, *, senders: int, seconds: float, per: int) -> dict:
        """N concurrent senders, each a keep-alive HTTP/1.1 connection in one asyncio loop (see _sender)."""
        host, port = origin.removeprefix("http://").rsplit(":", 1)
        latencies: list[float] = []
        failures: list[str] = []

        async def run() -> float:
            # Every sender starts at once: the connections are opened inside each sender's first request.
            deadline = time.monotonic() + seconds
            began = time.monotonic()
            await asyncio.gather(
                *(_sender(host, int(port), path, key, org, per, deadline, latencies, failures) for _ in range(senders))
            )
            return time.monotonic() - began

        elapsed = asyncio.run(run())
        flat = sorted(latencies)
        total = len(flat) + len(failures)
        return {
            "requests": total,
            "seconds": round(elapsed, 3),
            "requests_per_second": round(total / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(_percentile(flat, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(flat, 0.99) * 1000, 2),
            "max_ms": round(flat[-1] * 1000, 2) if flat else 0.0,
            "errors": len(failures),
            "error_samples": failures[:5],
        }

    # Server and database ---------------------------------------------------------------------------------------

    def _run(self, command: list[str], env: dict, cwd: Path) -> str:
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)  # noqa: S603
        if done.returncode != 0:
            raise CommandError(f"{' '.join(command[1:3])} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def _admin_sql(self, database: dict, sql: str, params=None) -> list[tuple]:
        """Run `sql` on the server's maintenance database (autocommit: CREATE / DROP DATABASE); returns its rows."""
        import psycopg

        with psycopg.connect(
            host=database.get("HOST") or "127.0.0.1",
            port=database.get("PORT") or 5432,
            user=database.get("USER") or "postgres",
            password=database.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            cursor = admin.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def _database_pids(self, database: dict, name: str) -> list[int]:
        """The PostgreSQL backends serving the scratch database (gunicorn keeps its connections open)."""
        rows = self._admin_sql(database, "SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
        return [pid for (pid,) in rows]

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


async def _sender(host, port, path, key, org, per, deadline, latencies: list, failures: list) -> None:
    """One closed-loop sender: a new signed delivery, wait for the whole answer, send the next.

    Raw HTTP/1.1 over asyncio streams rather than an HTTP client library: with 50 senders on the server's own
    cores, the client's CPU per request would otherwise be most of what is measured. The connection is kept
    alive; when the server closes it, the next request pays for the new connection inside its latency.
    """
    reader = writer = None
    try:
        for _ in range(MAX_REQUESTS_PER_SENDER):
            if time.monotonic() >= deadline:
                break
            body = _delivery(org, per)
            signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nx-xero-signature: {signature}\r\n\r\n"
            ).encode() + body
            began = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                status, headers, content = await asyncio.wait_for(_response(reader), timeout=10.0)
            except (OSError, EOFError, asyncio.LimitOverrunError, ValueError) as exc:  # TimeoutError is an OSError
                failures.append(f"{type(exc).__name__}: {exc}"[:160])
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            elapsed = time.perf_counter() - began
            if status != 200 or content:
                failures.append(f"{status} {content[:120].decode(errors='replace')}")
            else:
                latencies.append(elapsed)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
    """Read one HTTP/1.1 response, Content-Length or chunked: (status, lower-cased headers, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        content = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            content += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        length = int(headers.get("content-length", "0"))
        content = await reader.readexactly(length) if length else b""
    return int(rest[:3]), headers, content
