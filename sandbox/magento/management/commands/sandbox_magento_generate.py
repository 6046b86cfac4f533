import json
import time

from django.core.management.base import BaseCommand

from sandbox.magento.generator import generate


class Command(BaseCommand):
    help = "Generate seeded native Magento records into a simulated store; prints counts and seconds as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--code", required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--customers", type=int, default=200)
        parser.add_argument("--orders", type=int, default=500)
        parser.add_argument("--tax-inclusive", action="store_true", help="for a store created by this run")
        parser.add_argument("--currency", default="USD", help="for a store created by this run")

    def handle(self, *args, **options):
        started = time.monotonic()
        counts = generate(
            account=options["code"],
            seed=options["seed"],
            customers=options["customers"],
            orders=options["orders"],
            tax_inclusive=options["tax_inclusive"],
            currency=options["currency"],
        )
        self.stdout.write(json.dumps({**counts, "seconds": round(time.monotonic() - started, 2)}))
