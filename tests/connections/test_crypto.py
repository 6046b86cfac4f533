"""Credentials at rest: encrypted, bound to their row, rotatable, and never readable with the wrong key."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db

from connections import crypto, services
from connections.models import Connection
from tenants.scoping import all_tenants, tenant_scope

pytestmark = pytest.mark.django_db


def _reload(conn):
    with all_tenants():
        return Connection.objects.get(pk=conn.pk)


def test_round_trip_and_nothing_in_plain_text_on_the_row(world, keys, connect):
    a = connect(world.tenant_a1)
    b = connect(world.tenant_b1)
    assert dict(crypto.credentials_read(_reload(a))) == {"access_token": f"mag-secret-{world.tenant_a1.pk}-zz81"}
    assert dict(crypto.credentials_read(_reload(b))) == {"access_token": f"mag-secret-{world.tenant_b1.pk}-zz81"}
    row = _reload(a)
    assert "mag-secret" not in row.credentials_ciphertext
    assert row.credentials_ciphertext.startswith("gAAAAA")  # a Fernet token


def test_credentials_never_show_in_repr_str_or_pickle(world, keys, connect):
    conn = _reload(connect(world.tenant_a1))
    creds = crypto.credentials_read(conn)
    secret = creds["access_token"]
    for text in (repr(creds), str(creds), repr(conn), str(conn), f"{creds}"):
        assert secret not in text
    assert "access_token" in repr(creds)
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(creds)


def test_a_wrong_key_raises_and_never_returns_ciphertext(world, keys, connect, settings):
    conn = _reload(connect(world.tenant_a1))
    settings.FIELD_ENCRYPTION_KEYS = [keys[1]]
    with pytest.raises(crypto.CredentialsUnreadableError) as caught:
        crypto.credentials_read(conn)
    assert conn.credentials_ciphertext not in str(caught.value)
    assert caught.value.code == "credentials_unreadable"


@pytest.mark.parametrize("other", ["tenant_a1", "tenant_a2", "tenant_b1"])
def test_ciphertext_copied_to_another_row_is_refused(world, keys, connect, other):
    source = _reload(connect(world.tenant_a1, display_name="source"))
    target = _reload(
        connect(getattr(world, other), display_name="target", account={"store_url": "https://other.example.com"})
    )
    with all_tenants():
        Connection.objects.filter(pk=target.pk).update(credentials_ciphertext=source.credentials_ciphertext)
    with pytest.raises(crypto.CredentialsUnreadableError, match="another row"):
        crypto.credentials_read(_reload(target))
    # The source row still reads.
    assert crypto.credentials_read(_reload(source))


def test_ciphertext_moved_to_another_purpose_is_refused(world, keys, connect):
    conn = _reload(connect(world.tenant_a1, webhook_secret="whsec-abcdef-123"))
    assert crypto.webhook_secret_read(conn) == "whsec-abcdef-123"
    with all_tenants():
        Connection.objects.filter(pk=conn.pk).update(webhook_secret_ciphertext=conn.credentials_ciphertext)
    with pytest.raises(crypto.CredentialsUnreadableError):
        crypto.webhook_secret_read(_reload(conn))


def test_rotation_reencrypts_under_the_newest_key(world, keys, connect, settings):
    old, new, _ = keys
    a = connect(world.tenant_a1, webhook_secret="whsec-rotate-me-1")
    b = connect(world.tenant_b2)
    connect(world.tenant_a2, "rest")  # no credentials at all
    before = {c.pk: _reload(c).credentials_ciphertext for c in (a, b)}

    # Step 1: the new key is prepended. Until rotation, a process still configured with only the old key reads.
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert crypto.credentials_read(_reload(a))
    settings.FIELD_ENCRYPTION_KEYS = [old]
    assert crypto.credentials_read(_reload(a))
    assert crypto.webhook_secret_read(_reload(a)) == "whsec-rotate-me-1"

    # Step 2: rotate.
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert json.loads(out.getvalue()) == {"connections": 3, "rotated": 2, "empty": 1, "failed": 0, "failed_ids": []}
    for conn in (a, b):
        assert _reload(conn).credentials_ciphertext != before[conn.pk]

    # Step 3: the old key is dropped; everything still reads, and the old key alone no longer does.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert crypto.credentials_read(_reload(a))["access_token"].startswith("mag-secret-")
    assert crypto.webhook_secret_read(_reload(a)) == "whsec-rotate-me-1"
    assert crypto.credentials_read(_reload(b))
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(crypto.CredentialsUnreadableError):
        crypto.credentials_read(_reload(b))


def test_rotation_reports_rows_it_cannot_read(world, keys, connect, settings):
    good = connect(world.tenant_a1)
    bad = connect(world.tenant_b1)
    with all_tenants():
        Connection.objects.filter(pk=bad.pk).update(credentials_ciphertext=_reload(good).credentials_ciphertext)
    settings.FIELD_ENCRYPTION_KEYS = [keys[1], keys[0]]
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("rotate_encryption_keys", stdout=out)
    counts = json.loads(out.getvalue())
    assert counts["rotated"] == 1 and counts["failed"] == 1 and counts["failed_ids"] == [bad.pk]


def test_a_dump_of_the_whole_database_holds_no_secret(world, keys, connect, api):
    secrets = []
    for tenant in (world.tenant_a1, world.tenant_a2, world.tenant_b1, world.tenant_b2):
        for provider in ("magento", "cin7", "gorgias"):
            extra = {"webhook_secret": f"whsec-{tenant.pk}-dump-77"} if provider == "magento" else {}
            conn = connect(tenant, provider, **extra)
            creds = crypto.credentials_read(_reload(conn))
            secrets += [v for k, v in creds.items() if k in ("access_token", "application_key", "api_key")]
            secrets += list(extra.values())
    # Exercise the paths that write around connections: state changes, activity trail, the API.
    with tenant_scope(world.tenant_a1):
        conn = Connection.objects.filter(provider="gorgias").get()
        services.connection_mark_needs_reauth(connection=conn, reason="401 from Gorgias")
    api.force_login(world.owner_a)
    api.post(
        f"/api/v1/tenants/{world.tenant_a1.pk}/connections/",
        {
            "provider": "cin7",
            "display_name": "API",
            "credentials": {"application_key": "api-made-secret-9931"},
            "account": {"account_id": "00000000-1111-2222-3333-444444444444"},
        },
        format="json",
    )
    secrets.append("api-made-secret-9931")

    dump = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 — table names come from the schema
            dump.extend(repr(row) for row in cursor.fetchall())
    text = "\n".join(dump)
    assert "gAAAAA" in text, "the dump should contain the ciphertext"
    for secret in secrets:
        assert secret not in text
