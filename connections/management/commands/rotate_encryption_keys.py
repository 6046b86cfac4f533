"""Re-encrypt every stored credential under the newest key in FIELD_ENCRYPTION_KEYS.

Roll out a new key in three steps: prepend it to FIELD_ENCRYPTION_KEYS (every process can now read old and new),
run this command, then remove the old key. Prints JSON counts; exits non-zero when a row cannot be read.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connections import crypto
from connections.models import Connection, PartnerWebhookEndpoint
from tenants.scoping import all_tenants


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection's credentials, webhook secret and partner webhook signing secret under the "
        "newest encryption key."
    )

    def handle(self, *args, **options):
        counts = {"connections": 0, "rotated": 0, "empty": 0, "failed": 0}
        failed_ids = []
        # A maintenance command over every tenant's rows; each row is locked while it is rewritten.
        with all_tenants():
            ids = list(Connection.objects.order_by("pk").values_list("pk", flat=True))
            for pk in ids:
                counts["connections"] += 1
                try:
                    rotated = self._rotate(pk)
                except crypto.CredentialsUnreadableError:
                    counts["failed"] += 1
                    failed_ids.append(pk)
                    continue
                counts["rotated" if rotated else "empty"] += 1
        self.stdout.write(json.dumps({**counts, "failed_ids": failed_ids}))
        if failed_ids:
            raise CommandError(f"{len(failed_ids)} connection(s) could not be read with the configured keys.")

    @transaction.atomic
    def _rotate(self, pk: int) -> bool:
        connection = Connection.objects.select_for_update().get(pk=pk)
        changed = []
        for field, purpose in (
            ("credentials_ciphertext", crypto.PURPOSE_CREDENTIALS),
            ("webhook_secret_ciphertext", crypto.PURPOSE_WEBHOOK_SECRET),
        ):
            token = getattr(connection, field)
            if not token:
                continue
            # Check the row binding before rewriting, so a swapped ciphertext is reported, not laundered.
            crypto.decrypt_for(connection, purpose=purpose, token=token)
            setattr(connection, field, crypto.rotate_token(token))
            changed.append(field)
        if changed:
            Connection.objects.filter(pk=pk).update(**{f: getattr(connection, f) for f in changed})
        endpoint = PartnerWebhookEndpoint.objects.select_for_update().filter(connection=connection).first()
        if endpoint is not None and endpoint.secret_ciphertext:
            purpose = crypto.PURPOSE_PARTNER_WEBHOOK_SECRET
            crypto.decrypt_for(connection, purpose=purpose, token=endpoint.secret_ciphertext)
            PartnerWebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                secret_ciphertext=crypto.rotate_token(endpoint.secret_ciphertext)
            )
            changed.append("partner_webhook_secret")
        return bool(changed)
