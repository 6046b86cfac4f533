import json

from django.core.management.base import BaseCommand

from sync.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Register the recurring work (drains, sweeper, polling, idle connections) with the task scheduler."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps({"schedules": schedules_ensure()}))
