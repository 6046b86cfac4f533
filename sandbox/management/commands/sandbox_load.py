import json
from importlib import import_module

from django.core.management.base import BaseCommand, CommandError

from sandbox.models import System


class Command(BaseCommand):
    help = "Load native records, exactly as that system's API returns them, into a simulated account."

    def add_arguments(self, parser):
        parser.add_argument("system", choices=System.values)
        parser.add_argument("account")
        parser.add_argument("file", help="a JSON file: one record, a list, or a search/list response")

    def handle(self, *args, **options):
        try:
            with open(options["file"], encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        loader = import_module(f"sandbox.{options['system']}.loader")
        try:
            result = loader.load_records(account=options["account"], data=data)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"system": options["system"], "account": options["account"], **result}))
