import json

import httpx
from django.core.management.base import BaseCommand

from sandbox.xero.models import XeroApp
from sandbox.xero.services.webhooks import webhook_intent_to_receive, webhooks_deliver


class Command(BaseCommand):
    help = "Deliver due Xero webhook events over HTTP (runs intent-to-receive first for apps not yet enabled)."

    def add_arguments(self, parser):
        parser.add_argument("--in-process", action="store_true", help="deliver into this Django app, no network")

    def handle(self, *args, **options):
        if options["in_process"]:
            from sandbox.transport import sandbox_client

            client = sandbox_client()
        else:
            client = httpx.Client()
        checked = {}
        with client:
            for app in XeroApp.objects.exclude(webhook_url="").filter(webhook_enabled=False):
                checked[app.name] = webhook_intent_to_receive(app=app, client=client)
            counts = webhooks_deliver(client=client)
        self.stdout.write(json.dumps({"intent_to_receive": checked, **counts}))
