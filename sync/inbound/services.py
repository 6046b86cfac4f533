"""Storing what arrived: verified webhook deliveries and partner pushes, through the inbox (sync.services.inbox)."""

import logging

from django.db import IntegrityError, transaction
from django.db import connection as db
from django.utils import timezone

from connections.models import Connection
from core.errors import ApplicationError
from sync.inbound.deliveries import InboundItem, canonical_json, sha256_hex
from sync.models import InboundEvent
from sync.services.inbox import (
    ConnectionChanged,
    inbound_event_receive,
    inbound_event_reject,
    inbound_events_deliver,
    inbox_run_request,
)
from tenants.scoping import all_tenants, tenant_scope

logger = logging.getLogger(__name__)


class IdempotencyKeyReusedError(ApplicationError):
    code = "idempotency_key_reused"
    http_status = 409


def _generational_key(*, connection: Connection, base: str) -> str:
    """`base` plus how many identical pointer events were already handled (see sync.inbound.deliveries)."""
    handled = (
        InboundEvent.objects.filter(connection=connection, dedupe_key__startswith=f"{base}:")
        .exclude(status=InboundEvent.Status.RECEIVED)
        .count()
    )
    return f"{base}:{handled}"


def _xero_targets(*, connection: Connection, accounts: set[str]) -> dict[str, list[Connection]]:
    """The live Xero connections of each organisation (tenantId) named in a delivery."""
    targets: dict[str, list[Connection]] = {}
    if connection.external_account_id in accounts:
        targets[connection.external_account_id] = [connection]
    others = accounts - {connection.external_account_id}
    if others:
        # all_tenants: Xero posts every connected organisation's events to the app's one URL, signed with the
        # app's key (already verified); each event's tenantId, not the URL, says whose it is.
        with all_tenants():
            found = list(
                Connection.objects.filter(provider="xero", external_account_id__in=others).exclude(
                    status=Connection.Status.DISCONNECTED
                )
            )
        for other in found:
            targets.setdefault(other.external_account_id, []).append(other)
    return targets


def for_connection_itself(item: InboundItem, connection: Connection) -> bool:
    """A valid event that belongs to `connection` under its own dedupe key (see deliveries.InboundItem)."""
    return item.kind != "invalid" and not item.generational and item.account in ("", connection.external_account_id)


def _connection_unchanged(connection: Connection) -> bool:
    """The connection row still has the token, status, organisation and secret `connection` was read with."""
    return (
        Connection.objects.filter(
            pk=connection.pk,
            webhook_token=connection.webhook_token,
            external_account_id=connection.external_account_id,
            webhook_secret_ciphertext=connection.webhook_secret_ciphertext,
        )
        .exclude(status=Connection.Status.DISCONNECTED)
        .exists()
    )


def webhook_delivery_store(*, connection: Connection, items: list[InboundItem]) -> dict:
    """Store a verified delivery's events in the inbox; redeliveries are no-ops. Returns counts.

    Xero events go to the connection(s) of their organisation; every other provider's to `connection`. Each
    connection that got a new event gets a run over its inbox queued (one per burst, see inbox_run_request).
    Raises ConnectionChanged, storing nothing, when `connection` (perhaps read from a cache) is no longer as it
    was read.
    """
    counts = {"stored": 0, "duplicates": 0, "rejected": 0, "unrouted": 0}
    source = InboundEvent.Source.WEBHOOK
    if db.vendor == "postgresql" and all(for_connection_itself(item, connection) for item in items):
        # The usual delivery: plain events of the connection's own organisation, stored in one statement.
        stored = inbound_events_deliver(
            connection=connection, source=source, events=[(item.kind, item.dedupe_key, item.body) for item in items]
        )
        return {**counts, "stored": stored, "duplicates": len(items) - stored}
    # Checked before the transaction: raising inside it, without a savepoint, would doom a caller's transaction.
    if not _connection_unchanged(connection):
        raise ConnectionChanged
    woken: dict[int, Connection] = {}
    # savepoint=False: inside the view's transaction a savepoint would only add two round trips per delivery.
    with transaction.atomic(savepoint=False):
        routed = {item.account for item in items if item.account}
        targets = _xero_targets(connection=connection, accounts=routed) if routed else {}
        for item in items:
            if item.kind == "invalid":
                inbound_event_reject(
                    connection=connection,
                    source=source,
                    kind="invalid",
                    dedupe_key=item.dedupe_key,
                    body=item.body,
                    reason="The event lacks one of its identifying fields.",
                )
                counts["rejected"] += 1
                continue
            receivers = targets.get(item.account, []) if item.account else [connection]
            if not receivers:
                # An organisation no tenant has connected (or one disconnected since): nothing to sync.
                logger.info("webhook event for unconnected Xero organisation %s ignored", item.account)
                counts["unrouted"] += 1
                continue
            for receiver in receivers:
                with tenant_scope(receiver.tenant_id):
                    key = item.dedupe_key
                    if item.generational:
                        key = _generational_key(connection=receiver, base=key)
                    _, created = inbound_event_receive(
                        connection=receiver, source=source, kind=item.kind, dedupe_key=key, body=item.body
                    )
                if created:
                    woken[receiver.pk] = receiver
                counts["stored" if created else "duplicates"] += 1
        for receiver in woken.values():
            with tenant_scope(receiver.tenant_id):
                inbox_run_request(connection=receiver)
    return counts


def webhook_delivery_reject(*, connection: Connection, body: bytes, reason: str) -> InboundEvent:
    """Keep an authentic but unusable delivery as a rejected inbox row, with why (its text, if it is text)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    # A NUL character is the one character no JSON column of PostgreSQL's can hold.
    text = text.replace("\x00", "\ufffd")
    return inbound_event_reject(
        connection=connection,
        source=InboundEvent.Source.WEBHOOK,
        kind="malformed",
        dedupe_key="malformed:" + sha256_hex(body),
        body={"raw": text[:100_000]},
        reason=reason,
    )


# Partner ingest -------------------------------------------------------------------------------------------------


def record_dedupe_key(*, kind: str, source_id: str, body: dict) -> str:
    """<kind>:<external id>:<sha256 of the canonical JSON>; long ids are hashed so the version never gets cut."""
    digest = sha256_hex(canonical_json(body))
    key = f"{kind}:{source_id}:{digest}"
    if len(key) > 128:
        key = f"{kind}:#{sha256_hex(source_id)[:40]}:{digest}"
    return key


def ingest_records_receive(
    *, connection: Connection, kind: str, records: list[dict], idempotency_key: str = "", request_hash: str = ""
) -> tuple[dict, bool]:
    """Store pushed canonical records in the inbox, once per distinct version. Returns (answer, replayed).

    With an idempotency key, the first request's answer is kept (as an inbox row of kind "<kind>.batch" that is
    never processed) and a retry with the same key and body gets it back unchanged; the same key with another
    body raises IdempotencyKeyReusedError. Two concurrent requests with one key serialise on its unique row.
    """
    with transaction.atomic():
        marker = None
        if idempotency_key:
            marker_key = "idempotency:" + sha256_hex(idempotency_key)
            try:
                with transaction.atomic():
                    marker = InboundEvent.objects.create(
                        tenant_id=connection.tenant_id,
                        connection=connection,
                        source=InboundEvent.Source.API,
                        kind=f"{kind}.batch",
                        dedupe_key=marker_key,
                        status=InboundEvent.Status.PROCESSED,
                        processed_at=timezone.now(),
                        body={"request_sha256": request_hash, "answer": None},
                    )
            except IntegrityError:
                earlier = InboundEvent.objects.get(connection=connection, dedupe_key=marker_key)
                if (earlier.body or {}).get("request_sha256") != request_hash:
                    raise IdempotencyKeyReusedError(
                        "This Idempotency-Key was already used with a different request body.",
                        extra={"idempotency_key": idempotency_key[:80]},
                    ) from None
                return earlier.body["answer"], True
        answer = {"accepted": 0, "duplicates": 0, "events": []}
        for record in records:
            event, created = inbound_event_receive(
                connection=connection,
                source=InboundEvent.Source.API,
                kind=kind,
                dedupe_key=record_dedupe_key(kind=kind, source_id=record["source_id"], body=record),
                body=record,
            )
            answer["accepted" if created else "duplicates"] += 1
            answer["events"].append(event.pk)
        if answer["accepted"]:
            inbox_run_request(connection=connection)
        if marker is not None:
            marker.body = {"request_sha256": request_hash, "answer": answer}
            marker.save(update_fields=["body", "updated_at"])
    return answer, False
