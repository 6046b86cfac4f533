"""Shared shapes of api.xro answers: envelopes, lists with filters and paging, batched writes."""

import uuid

from django.db import transaction
from django.utils import timezone

from sandbox.xero import errors
from sandbox.xero.query import order_records, where_exact, where_filter, where_prefilter
from sandbox.xero.services.workspace import Workspace
from sandbox.xero.views.gate import Call
from sandbox.xero.wire import json_response, ms_date, parse_http_datetime

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def envelope(call: Call, key: str, items: list, extra: dict | None = None):
    body = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": call.grant.app.name,
        "DateTimeUTC": ms_date(timezone.now()),
        **(extra or {}),
        key: items,
    }
    return json_response(body)


def _ids(raw: str | None) -> list[uuid.UUID] | None:
    if raw is None:
        return None
    try:
        return [uuid.UUID(part.strip()) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise errors.RequestInvalid("IDs must be a comma separated list of GUIDs.") from None


def filter_queryset(call: Call, queryset, *, modified_field: str | None = "updated_at", id_field: str = "id"):
    """The ORM-side filters: If-Modified-Since and IDs=."""
    since = call.request.headers.get("If-Modified-Since")
    if since and modified_field:
        try:
            moment = parse_http_datetime(since)
        except (TypeError, ValueError):
            raise errors.RequestInvalid("If-Modified-Since is not a valid date.") from None
        queryset = queryset.filter(**{f"{modified_field}__gt": moment})
    ids = _ids(call.param("IDs"))
    if ids is not None:
        queryset = queryset.filter(**{f"{id_field}__in": ids})
    return queryset


def csv_param(call: Call, name: str) -> list[str] | None:
    raw = call.param(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def list_response(call: Call, key: str, records: list[dict], *, paged: bool):
    """Apply `where`, `order` and (for paged endpoints) `page`/`pageSize`, then answer Xero's envelope."""
    records = where_filter(records, call.param("where"))
    records = order_records(records, call.param("order"))
    extra = {}
    page_raw = call.param("page")
    if paged and page_raw is not None:
        page, size = _page(call)
        count = len(records)
        extra["pagination"] = {
            "page": page,
            "pageSize": size,
            "pageCount": (count + size - 1) // size,
            "itemCount": count,
        }
        records = records[(page - 1) * size : page * size]
    return envelope(call, key, records, extra)


def _page(call: Call) -> tuple[int, int]:
    try:
        page = max(1, int(call.param("page")))
        size = int(call.param("pageSize") or DEFAULT_PAGE_SIZE)
    except ValueError:
        raise errors.RequestInvalid("page and pageSize must be whole numbers.") from None
    return page, min(max(1, size), MAX_PAGE_SIZE)


def list_queryset(
    call: Call,
    key: str,
    queryset,
    render_one,
    *,
    paged: bool,
    columns: dict,
    date_columns=None,
    narrow=None,
    load=list,
):
    """list_response over a queryset, doing in SQL what gives the same answer: the `where` clause itself when the
    database can answer it exactly (on `columns` and `date_columns`), else a superset filter; and, when nothing is
    left to evaluate in Python, the page itself. `narrow` filters rendered records further (e.g. searchTerm);
    `load` reads the records to render from the final queryset (sandbox.xero.pages reads them as plain values)."""
    where, order = call.param("where"), call.param("order")
    if not order:
        exact = where_exact(where, columns, date_columns or {})
        if exact is not None:
            queryset, where = queryset.filter(exact), None
        else:
            prefilter = where_prefilter(where, columns)
            if prefilter is not None:
                queryset = queryset.filter(prefilter)
    if paged and call.param("page") is not None and not (where and where.strip()) and not order and narrow is None:
        page, size = _page(call)
        count = queryset.count()
        records = [render_one(r) for r in load(queryset[(page - 1) * size : page * size])]
        pagination = {"page": page, "pageSize": size, "pageCount": (count + size - 1) // size, "itemCount": count}
        return envelope(call, key, records, {"pagination": pagination})
    records = [render_one(r) for r in load(queryset)]
    if narrow is not None:
        records = narrow(records)
    return list_response(call, key, records, paged=paged)


def element_echo(data, messages: list[str], *, error_flag: str) -> dict:
    echo = dict(data) if isinstance(data, dict) else {}
    echo[error_flag] = True
    echo["ValidationErrors"] = [{"Message": message} for message in messages]
    return echo


def batch_write(
    call: Call,
    key: str,
    write_one,
    render_one=None,
    *,
    error_flag: str = "HasErrors",
    single=None,
    ws: Workspace | None = None,
    prefetch=None,
    render_many=None,
):
    """A PUT/POST of {key: [...]} (or one bare element), written element by element.

    summarizeErrors=false: 200 with every element, StatusAttributeString OK/ERROR and its ValidationErrors.
    Default (summarised): any failure answers the 400 ValidationException listing the failed elements, while the
    valid elements are still created (as Xero does, without returning their IDs).

    Without a workspace each element is written on its own savepoint and rendered by `render_one`. With one
    (`ws`), `prefetch(elements)` reads what the batch refers to, each element runs in the workspace's in-memory
    savepoint, the writes go out in bulk and `render_many(records)` answers a whole segment at once.
    """
    body = call.body
    if not isinstance(body, dict):
        raise errors.RequestInvalid("The request body must be a JSON object.")
    elements = body.get(key, [body])
    if not isinstance(elements, list):
        raise errors.RequestInvalid(f"{key} must be a list.")
    if not elements:
        raise errors.RequestInvalid(f"No {key} were supplied.")
    summarize = call.flag("summarizeErrors", True)
    if ws is None:
        results, failed = _write_each(elements, write_one, render_one, summarize=summarize, error_flag=error_flag)
    else:
        results, failed = _write_batch(
            ws, elements, write_one, prefetch, render_many, summarize=summarize, error_flag=error_flag
        )
    if failed and summarize:
        return errors.validation_exception(elements=failed)
    return envelope(call, key, results)


def _refused(element, exc: errors.ElementInvalid, *, summarize: bool, error_flag: str) -> dict:
    echo = element_echo(element, exc.messages, error_flag=error_flag)
    if not summarize:
        echo["StatusAttributeString"] = "ERROR"
    return echo


def _write_each(elements, write_one, render_one, *, summarize: bool, error_flag: str):
    results, failed = [], []
    for element in elements:
        savepoint = transaction.savepoint()
        try:
            record = write_one(element)
            transaction.savepoint_commit(savepoint)
        except errors.ElementInvalid as exc:
            transaction.savepoint_rollback(savepoint)
            echo = _refused(element, exc, summarize=summarize, error_flag=error_flag)
            results.append(echo)
            failed.append(echo)
            continue
        rendered = render_one(record)
        if not summarize:
            rendered["StatusAttributeString"] = "OK"
        results.append(rendered)
    return results, failed


def _write_batch(ws: Workspace, elements, write_one, prefetch, render_many, *, summarize: bool, error_flag: str):
    results: list = [None] * len(elements)
    failed: list[dict] = []
    segment: list[tuple[int, object]] = []

    def segment_end():
        ws.flush()
        if segment and not (summarize and failed):  # a summarised refusal answers no records
            for (index, _), rendered in zip(segment, render_many([record for _, record in segment]), strict=True):
                if not summarize:
                    rendered["StatusAttributeString"] = "OK"
                results[index] = rendered
        segment.clear()

    ws.on_segment_end = segment_end
    if prefetch is not None:
        prefetch(elements)
    for index, element in enumerate(elements):
        try:
            with ws.element():
                record = write_one(element)
        except errors.ElementInvalid as exc:
            echo = _refused(element, exc, summarize=summarize, error_flag=error_flag)
            results[index] = echo
            failed.append(echo)
            continue
        segment.append((index, record))
    segment_end()
    return results, failed
