"""History and notes: what changed on a record, plus notes a caller adds."""

from sandbox.xero.errors import ElementInvalid
from sandbox.xero.models import HistoryRecord, Organisation
from sandbox.xero.services.rows import new_row

NOTE_MAX_CHARS = 250  # the stored developer page's limit (research/xero.md §8)


def history_add(
    *, org: Organisation, object_id, changes: str, details: str, user: str = "System Generated", ws=None
) -> HistoryRecord:
    """Append a system history entry (Created, Updated, Approved, Voided, Paid, …); with `ws`, at its flush."""
    record = new_row(HistoryRecord, org_id=org.pk, object_id=object_id, changes=changes, details=details, user=user)
    if ws is not None:
        ws.history(record)
    else:
        record.save()
    return record


def history_note_add(*, org: Organisation, object_id, details) -> HistoryRecord:
    """PUT /{Endpoint}/{id}/History: only notes can be added."""
    details = "" if details is None else str(details)
    if not details.strip():
        raise ElementInvalid("The Details field is mandatory.")
    if len(details) > NOTE_MAX_CHARS:
        raise ElementInvalid(f"The Details field must not be more than {NOTE_MAX_CHARS} characters long.")
    return history_add(org=org, object_id=object_id, changes="Note", details=details)
