"""Reads of the simulated Gorgias helpdesk: cursor-paged lists, as every Gorgias list endpoint pages.

A cursor is opaque to the client; ours encodes the direction and the (sort value, id) of the row it continues
from, so pages stay stable while records are added (keyset paging).
"""

import base64
import json
from urllib.parse import urlencode

from django.db.models import Q

from sandbox.gorgias.models import GorgiasAccount, GorgiasRecord
from sandbox.gorgias.services import GorgiasApiError, parse_datetime

Kind = GorgiasRecord.Kind
ORDER_FIELDS = {"created_datetime": "created_at", "updated_datetime": "updated_at"}
DEFAULT_LIMIT = 30
MAX_LIMIT = 100


def _bad(field: str, message: str) -> GorgiasApiError:
    return GorgiasApiError(400, "Invalid request.", {field: [message]})


def _encode(direction: str, row) -> str:
    raw = json.dumps([direction, row[0].isoformat(), row[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, value, record_id = json.loads(raw)
        when = parse_datetime(value)
        if direction not in ("next", "prev") or when is None or not isinstance(record_id, int):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise _bad("cursor", "Invalid cursor.") from exc
    return direction, when, record_id


def page(*, account: GorgiasAccount, kind: str, params, path: str, filters: Q | None = None) -> dict:
    """A list envelope `{object, uri, data, meta: {prev_cursor, next_cursor}}` for `kind`."""
    try:
        limit = int(params.get("limit") or DEFAULT_LIMIT)
    except ValueError as exc:
        raise _bad("limit", "Not a valid integer.") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", f"Must be between 1 and {MAX_LIMIT}.")
    order_by = params.get("order_by") or "created_datetime:desc"
    field, _, direction = order_by.partition(":")
    if field not in ORDER_FIELDS or direction not in ("asc", "desc"):
        raise _bad("order_by", "Must be one of: created_datetime:asc, created_datetime:desc, "
                               "updated_datetime:asc, updated_datetime:desc.")  # fmt: skip
    column = ORDER_FIELDS[field]
    rows = GorgiasRecord.objects.filter(account=account, kind=kind)
    if filters is not None:
        rows = rows.filter(filters)
    descending = direction == "desc"
    cursor = params.get("cursor")
    moving, anchor = "next", None
    if cursor:
        moving, when, record_id = _decode(cursor)
        anchor = (when, record_id)
    # Going back walks the list in the opposite order from the anchor, then flips the page.
    reverse = descending != (moving == "prev")
    ordering = [f"-{column}", "-record_id"] if reverse else [column, "record_id"]
    if anchor:
        op = "lt" if reverse else "gt"
        rows = rows.filter(
            Q(**{f"{column}__{op}": anchor[0]}) | Q(**{column: anchor[0], f"record_id__{op}": anchor[1]})
        )
    fetched = list(rows.order_by(*ordering).values_list(column, "record_id", "body")[: limit + 1])
    more = len(fetched) > limit
    fetched = fetched[:limit]
    if moving == "prev":
        fetched.reverse()
    first, last = (fetched[0], fetched[-1]) if fetched else (None, None)
    if moving == "next":
        next_cursor = _encode("next", last) if more else None
        prev_cursor = _encode("prev", first) if anchor and first else None
    else:
        prev_cursor = _encode("prev", first) if more else None
        next_cursor = _encode("next", last) if last else None
    query = dict(params.items())
    return {
        "object": "list",
        "uri": f"{path}?{urlencode(query)}" if query else path,
        "data": [json.loads(body) for _, _, body in fetched],
        "meta": {"prev_cursor": prev_cursor, "next_cursor": next_cursor},
    }


def customer_filters(params) -> Q:
    """Exact-match filters of GET /api/customers."""
    q = Q()
    if params.get("email"):
        q &= Q(email__iexact=params["email"])
    if params.get("external_id"):
        q &= Q(external_id=params["external_id"])
    if params.get("name"):
        q &= Q(name__iexact=params["name"])
    return q


def ticket_filters(params) -> Q:
    q = Q()
    if params.get("customer_id"):
        try:
            q &= Q(parent_id=int(params["customer_id"]))
        except ValueError as exc:
            raise _bad("customer_id", "Not a valid integer.") from exc
    return q
