import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants import services
from tenants.models import Agency, Tenant, User

DEMO_EMAIL = "demo@ledgerbridge.local"
DEMO_PASSWORD = "ledgerbridge-demo"


class Command(BaseCommand):
    help = "Create (once) a demo agency with a login and two tenants, and print how to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of prose.")

    @transaction.atomic
    def handle(self, *args, **options):
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(email=DEMO_EMAIL, password=DEMO_PASSWORD)
            agency = services.agency_create_with_owner(name="Demo Agency", owner=user)
            services.tenant_create(
                agency=agency,
                actor="system",
                name="Acme Outdoor (AU)",
                country="AU",
                base_currency="AUD",
                timezone_name="Australia/Sydney",
            )
            services.tenant_create(
                agency=agency,
                actor="system",
                name="Brightside Tea (GB)",
                country="GB",
                base_currency="GBP",
                timezone_name="Europe/London",
            )
        agency = Agency.objects.get(memberships__user=user)
        result = {
            "url": settings.SITE_URL,
            "email": DEMO_EMAIL,
            "password": DEMO_PASSWORD,
            "agency": agency.name,
            "tenants": list(Tenant.objects.filter(agency=agency).values_list("name", flat=True)),
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Open {result['url']} and sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"  Agency: {result['agency']}; tenants: {', '.join(result['tenants'])}")
