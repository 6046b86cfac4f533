"""Processing an inbound event: fetch the full record, normalise it, stage one job per target effect."""


def inbound_event_process(*, event_id: int) -> None:
    """Process one inbox event (written with the staging engine)."""
    raise NotImplementedError("staging arrives with the sync engine")
