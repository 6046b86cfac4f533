import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.gorgias.services import account_credentials, account_ensure


class Command(BaseCommand):
    help = "Create (or show) a simulated Gorgias helpdesk by domain: base URL, email and API key."

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            account = account_ensure(domain=options["domain"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        credentials = account_credentials(account=account)
        if options["json"]:
            self.stdout.write(json.dumps(credentials))
        else:
            for key, value in credentials.items():
                self.stdout.write(f"{key}: {value}")
