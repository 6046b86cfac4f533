import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.magento.services import store_create


class Command(BaseCommand):
    help = "Create a simulated Magento store (idempotent by code) and print its base URL and credentials as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--code", required=True, help="store code: the sandbox account and the URL store code")
        parser.add_argument("--tax-inclusive", action="store_true", help="catalog prices include tax")
        parser.add_argument("--currency", default="USD", help="base and display currency (default USD)")
        parser.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")

    def handle(self, *args, **options):
        try:
            credentials = store_create(
                code=options["code"], tax_inclusive=options["tax_inclusive"], currency=options["currency"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(credentials))
