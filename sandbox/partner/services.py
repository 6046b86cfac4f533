"""Setting up and reading a simulated partner receiver (tests and the demo call these in process)."""

from django.db import transaction
from django.db.models import F

from sandbox.models import PartnerDelivery, PartnerReceiver


def partner_receiver_set(*, name: str, **settings) -> PartnerReceiver:
    """Create or change a receiver: fail_next=N with fail_status, drop_next=N (never answer)."""
    receiver, _ = PartnerReceiver.objects.update_or_create(name=name, defaults=settings)
    return receiver


def partner_deliveries(*, name: str) -> list[PartnerDelivery]:
    """What the receiver got, oldest first."""
    return list(PartnerDelivery.objects.filter(receiver__name=name).order_by("id"))


@transaction.atomic
def partner_delivery_receive(*, name: str, headers: dict, body: bytes) -> tuple[int, bool]:
    """Record one delivery and decide the answer: (status, drop the response)."""
    receiver, _ = PartnerReceiver.objects.select_for_update().get_or_create(name=name)
    status, drop = 200, False
    if receiver.drop_next:
        PartnerReceiver.objects.filter(pk=receiver.pk).update(drop_next=F("drop_next") - 1)
        drop = True
    elif receiver.fail_next:
        PartnerReceiver.objects.filter(pk=receiver.pk).update(fail_next=F("fail_next") - 1)
        status = receiver.fail_status
    PartnerDelivery.objects.create(receiver=receiver, headers=headers, body=body, answered=None if drop else status)
    return status, drop
