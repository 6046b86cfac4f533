import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from sandbox.cin7.services import account_credentials as cin7_credentials
from sandbox.cin7.services import account_ensure as cin7_account_ensure
from sandbox.gorgias.services import account_credentials as gorgias_credentials
from sandbox.gorgias.services import account_ensure as gorgias_account_ensure
from sandbox.magento.generator import generate as magento_generate
from sandbox.magento.models import Order as MagentoOrder
from sandbox.magento.services import store_create
from sandbox.xero.services.auth import app_ensure
from sandbox.xero.services.orgs import DEFAULT_APP_NAME, organisation_create

XERO_CALLBACK_PATH = "/connections/xero/callback/"


class Command(BaseCommand):
    help = (
        "Make (once) the sandbox accounts a newcomer connects to: a Xero organisation, a Magento store with "
        "orders, a Cin7 Core account and a Gorgias helpdesk."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of prose.")

    @transaction.atomic
    def handle(self, *args, **options):
        site = settings.SITE_URL.rstrip("/")
        # The developer app carries the fixed development credentials that are also the product's development
        # defaults of XERO_CLIENT_ID / XERO_CLIENT_SECRET / XERO_WEBHOOK_KEY, so "Connect Xero" works untouched.
        app_ensure(
            name=DEFAULT_APP_NAME,
            client_id=settings.DEV_XERO_CLIENT_ID,
            client_secret=settings.DEV_XERO_CLIENT_SECRET,
            webhook_key=settings.DEV_XERO_WEBHOOK_KEY,
        )
        xero = organisation_create(name="Demo Company (AU)", country="AU", redirect_uris=[site + XERO_CALLBACK_PATH])
        magento = store_create(code="demo", currency="AUD", name="Demo Outdoor Store")
        if not MagentoOrder.objects.filter(store__code="demo").exists():
            magento_generate(account="demo", seed=1, customers=40, orders=120)
        cin7 = cin7_credentials(account=cin7_account_ensure(name="Demo Cin7"))
        gorgias = gorgias_credentials(account=gorgias_account_ensure(domain="demo-helpdesk"))
        result = {
            "xero": {k: xero[k] for k in ("tenant_id", "tenant_name", "client_id", "client_secret", "webhook_key")},
            "magento": {k: magento[k] for k in ("base_url", "store_code", "access_token")},
            "cin7": {k: cin7[k] for k in ("base_url", "account_id", "application_key")},
            "gorgias": {k: gorgias[k] for k in ("base_url", "email", "api_key")},
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(self.style.SUCCESS("Sandbox ready (simulated external systems under /sandbox/):"))
        self.stdout.write(f"  Xero organisation {xero['tenant_name']} ({xero['tenant_id']})")
        self.stdout.write(f"    XERO_CLIENT_ID={xero['client_id']}")
        self.stdout.write(f"    XERO_CLIENT_SECRET={xero['client_secret']}")
        self.stdout.write(f"    XERO_WEBHOOK_KEY={xero['webhook_key']}")
        self.stdout.write(f"  Magento store {magento['base_url']} (bearer {magento['access_token']})")
        self.stdout.write(f"  Cin7 Core {cin7['base_url']} account {cin7['account_id']}")
        self.stdout.write(f"  Gorgias {gorgias['base_url']} ({gorgias['email']})")
