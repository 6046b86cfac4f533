import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.xero.services.orgs import COUNTRY_SETUP, DEFAULT_APP_NAME, organisation_create


class Command(BaseCommand):
    help = "Create (or reuse, by name) a simulated Xero organisation with a connected app; prints one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--country", default="AU", choices=sorted(COUNTRY_SETUP))
        parser.add_argument("--app", default=DEFAULT_APP_NAME, help="developer app name (created if missing)")
        parser.add_argument("--redirect-uri", action="append", dest="redirect_uris", help="may repeat")
        parser.add_argument("--webhook-url", help="the app's webhook delivery URL")
        parser.add_argument("--json", action="store_true", help="print JSON (the only output format)")

    def handle(self, *args, **options):
        try:
            result = organisation_create(
                name=options["name"],
                country=options["country"],
                app_name=options["app"],
                redirect_uris=options["redirect_uris"],
                webhook_url=options["webhook_url"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result))
