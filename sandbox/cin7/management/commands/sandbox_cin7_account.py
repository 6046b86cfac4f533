import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.cin7.services import account_credentials, account_ensure


class Command(BaseCommand):
    help = "Create (or show) a simulated Cin7 Core account by name: base URL, Account ID and application key."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            account = account_ensure(name=options["name"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        credentials = account_credentials(account=account)
        if options["json"]:
            self.stdout.write(json.dumps(credentials))
        else:
            for key, value in credentials.items():
                self.stdout.write(f"{key}: {value}")
