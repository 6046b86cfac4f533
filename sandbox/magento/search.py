"""Magento's searchCriteria: parse the query string (both spellings), filter, sort and page a queryset.

Filters inside one filter group are ORed, groups are ANDed; `condition_type` defaults to `eq`; sort direction defaults
to DESC; without pageSize every match is returned; a currentPage past the end answers an empty page (2.4 behaviour).
The `search_criteria` echoed back is always snake_case, as Magento serialises it.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import models
from django.db.models import Count, Q, Window
from django.db.models.fields.json import KeyTextTransform, compile_json_path
from django.db.models.functions import Cast

from sandbox.magento.formats import parse_magento_datetime

CONDITIONS = {
    "eq",
    "neq",
    "gt",
    "gteq",
    "lt",
    "lteq",
    "moreq",
    "from",
    "to",
    "in",
    "nin",
    "like",
    "nlike",
    "finset",
    "nfinset",
    "null",
    "notnull",
}
_RANGE = {"gt": "gt", "gteq": "gte", "moreq": "gte", "from": "gte", "lt": "lt", "lteq": "lte", "to": "lte"}
_SNAKE = {
    "filterGroups": "filter_groups",
    "conditionType": "condition_type",
    "sortOrders": "sort_orders",
    "pageSize": "page_size",
    "currentPage": "current_page",
}


# Magento 2.4.7+ with Web API input limits on (Admin › Stores › Configuration › Services › Web API Limits) refuses a
# larger page (research/sources.md §1.3). Every store here enforces it, so a client that works here works on any.
MAX_PAGE_SIZE = 300


class SearchCriteriaError(ValueError):
    """A searchCriteria Magento refuses; carries the message template and its parameters."""

    def __init__(self, message: str, parameters=None):
        super().__init__(message)
        self.message = message
        self.parameters = parameters


@dataclass
class Filter:
    field: str
    value: str
    condition_type: str


@dataclass
class SearchCriteria:
    groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[tuple[str, str]] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None
    echo: dict = field(default_factory=dict)


def _nest(query) -> dict | None:
    """searchCriteria[a][0][b]=v query keys as nested dicts; None when no searchCriteria key is present at all."""
    root: dict = {}
    found = False
    for key, values in query.lists():
        if not key.startswith("searchCriteria"):
            continue
        found = True
        parts = re.findall(r"\[([^\]]*)\]", key[len("searchCriteria") :])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(_SNAKE.get(part, part), {})
            if not isinstance(node, dict):
                break
        else:
            if parts:
                node[_SNAKE.get(parts[-1], parts[-1])] = values[-1]
    return root if found else None


def _indexed(node) -> list:
    if not isinstance(node, dict):
        return []
    return [node[k] for k in sorted(node, key=lambda k: (not str(k).isdigit(), int(k) if str(k).isdigit() else 0))]


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SearchCriteriaError(
            'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
            {"value": str(value), "type": "int"},
        ) from None


def parse_search_criteria(query) -> SearchCriteria:
    """Read searchCriteria from a QueryDict; raises SearchCriteriaError when it is missing or malformed."""
    tree = _nest(query)
    if tree is None:
        raise SearchCriteriaError('"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
    criteria = SearchCriteria()
    echo_groups = []
    for group in _indexed(tree.get("filter_groups")):
        filters, echo_filters = [], []
        for raw in _indexed(group.get("filters") if isinstance(group, dict) else None):
            if not isinstance(raw, dict) or not raw.get("field"):
                continue
            condition = (raw.get("condition_type") or "eq").lower()
            if condition not in CONDITIONS:
                raise SearchCriteriaError(
                    'Invalid value of "%value" provided for the %fieldName field.',
                    {"value": condition, "fieldName": "condition_type"},
                )
            filters.append(Filter(field=raw["field"], value=raw.get("value", ""), condition_type=condition))
            echo = {"field": raw["field"], "value": raw.get("value", "")}
            if raw.get("condition_type"):
                echo["condition_type"] = raw["condition_type"]
            echo_filters.append(echo)
        if filters:
            criteria.groups.append(filters)
        echo_groups.append({"filters": echo_filters})
    criteria.echo["filter_groups"] = echo_groups
    echo_sorts = []
    for raw in _indexed(tree.get("sort_orders")):
        if not isinstance(raw, dict) or not raw.get("field"):
            continue
        direction = str(raw.get("direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise SearchCriteriaError("Sort order direction should be one of: %1", [", ".join(("ASC", "DESC"))])
        criteria.sort_orders.append((raw["field"], direction))
        echo_sorts.append({"field": raw["field"], "direction": direction})
    if echo_sorts:
        criteria.echo["sort_orders"] = echo_sorts
    if tree.get("page_size") not in (None, ""):
        criteria.page_size = _int(tree["page_size"], "page_size")
        if criteria.page_size > MAX_PAGE_SIZE:
            raise SearchCriteriaError("Maximum SearchCriteria pageSize is %max", {"max": MAX_PAGE_SIZE})
        criteria.echo["page_size"] = criteria.page_size
    if tree.get("current_page") not in (None, ""):
        criteria.current_page = _int(tree["current_page"], "current_page")
        criteria.echo["current_page"] = criteria.current_page
    return criteria


@dataclass(frozen=True)
class Column:
    """A searchable field of an entity: the model column and how to read a filter value for it."""

    name: str
    kind: str  # "int", "dec", "str", "dt", "bool"


def _coerce(value: str, kind: str):
    value = value.strip() if isinstance(value, str) else value
    if kind == "int":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else number
    if kind == "dec":
        return Decimal(value)
    if kind == "dt":
        parsed = parse_magento_datetime(value)
        if parsed is None:
            raise ValueError(value)
        return parsed
    if kind == "bool":
        return str(value).lower() in ("1", "true")
    return value


def _like_regex(pattern: str) -> str:
    out = []
    for char in pattern:
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return "^" + "".join(out) + "$"


class DocumentText(models.Func):
    """The value under a top-level key of a record's `document`, as text: what PostgreSQL's ->> answers.

    A plain text expression, so a filter compares it as text on every database. (Django's key transforms compare
    with JSON-aware lookups: on SQLite they read the filter value itself as JSON, "malformed JSON" for `Jane`.)
    A JSON null or a missing key is SQL NULL, true and false are the words, numbers and strings their text.
    """

    output_field = models.TextField()

    def __init__(self, key: str):
        super().__init__(KeyTextTransform(key, Cast("document", output_field=models.JSONField())))
        self.key = key

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(self.source_expressions[0])

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite's key transform answers JSON null as the word 'null' and numbers as numbers; spell ->>'s answer.
        document, params = compiler.compile(self.source_expressions[0].lhs)
        path = compile_json_path([self.key])
        sql = (
            f"(CASE JSON_TYPE({document}, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(JSON_EXTRACT({document}, %s) AS text) END)"
        )
        return sql, (*params, path, *params, path)


class _Never(Exception):
    pass


def _filter_q(flt: Filter, columns: dict[str, Column]) -> tuple[Q, dict]:
    """One filter as a Q (plus annotations it needs). A value that cannot match its column matches nothing."""
    condition, raw = flt.condition_type, flt.value
    column = columns.get(flt.field)
    annotations = {}
    if column is None:
        # Not a column we index: compare against the value inside the stored document.
        alias = "json_" + re.sub(r"\W", "_", flt.field)
        annotations[alias] = DocumentText(flt.field)
        name, kind = alias, "str"
        if condition in _RANGE:
            try:
                Decimal(raw)
                annotations[alias + "_num"] = Cast(
                    DocumentText(flt.field), models.DecimalField(max_digits=30, decimal_places=8)
                )
                name, kind = alias + "_num", "dec"
            except (InvalidOperation, TypeError):
                pass
    else:
        name, kind = column.name, column.kind
    if condition == "null":
        return Q(**{f"{name}__isnull": True}), annotations
    if condition == "notnull":
        return Q(**{f"{name}__isnull": False}), annotations
    if condition in ("like", "nlike"):
        q = Q(**{f"{name}__iregex": _like_regex(str(raw))}) if kind in ("str",) else _Q_text_like(name, raw)
        return (q if condition == "like" else ~q & Q(**{f"{name}__isnull": False})), annotations
    if condition in ("finset", "nfinset"):
        q = Q(**{f"{name}__regex": r"(^|,)" + re.escape(str(raw)) + r"(,|$)"})
        return (q if condition == "finset" else ~q), annotations
    try:
        if condition in ("in", "nin"):
            values = [_coerce(v, kind) for v in str(raw).split(",") if v.strip() != ""]
            # `any`: one array parameter (core.lookups), where IN's one per value made psycopg parse a statement
            # of a few hundred placeholders each time (a page of invoices searches for its 300 orders).
            q = Q(**{f"{name}__any": values})
            return (q if condition == "in" else ~q & Q(**{f"{name}__isnull": False})), annotations
        value = _coerce(raw, kind)
    except (InvalidOperation, ValueError, TypeError):
        # MySQL would compare a non-number with a number column and find nothing sensible.
        return (Q(pk__in=[]) if condition != "neq" else Q(**{f"{name}__isnull": False})), annotations
    if condition == "eq":
        return Q(**{name: value}), annotations
    if condition == "neq":
        return ~Q(**{name: value}) & Q(**{f"{name}__isnull": False}), annotations
    return Q(**{f"{name}__{_RANGE[condition]}": value}), annotations


def _Q_text_like(name: str, raw) -> Q:  # noqa: N802 - reads like the Q it builds
    # LIKE on a number or date column compares its text; approximate with the value's digits.
    return Q(**{f"{name}__iregex": _like_regex(str(raw))})


def search(queryset, criteria: SearchCriteria, columns: dict[str, Column], default_order: str, read=("document",)):
    """Apply filters, sorting and paging; returns (total_count, the requested page's rows as tuples of the fields
    named in `read`). Only those fields are read: a page of orders read as whole rows spent a fifth of the poll's
    time in the simulator on model instances and on parsing two timestamps per row that nothing answers with."""
    for group in criteria.groups:
        combined = Q()
        for flt in group:
            q, annotations = _filter_q(flt, columns)
            if annotations:
                queryset = queryset.annotate(**annotations)
            combined |= q
        queryset = queryset.filter(combined)
    ordering = []
    for field_name, direction in criteria.sort_orders:
        column = columns.get(field_name)
        if column is None:
            alias = "sort_" + re.sub(r"\W", "_", field_name)
            queryset = queryset.annotate(**{alias: DocumentText(field_name)})
            name = alias
        else:
            name = column.name
        ordering.append(("-" if direction == "DESC" else "") + name)
    ordering.append(default_order)
    queryset = queryset.order_by(*ordering)
    if criteria.page_size is not None and criteria.page_size > 0:
        page = max(criteria.current_page or 1, 1)
        return _page_rows(queryset, (page - 1) * criteria.page_size, criteria.page_size, read)
    rows = list(queryset.values_list(*read))
    return len(rows), rows


def _page_rows(queryset, start: int, size: int, read) -> tuple[int, list]:
    """The total and the rows of one page, found by id first: the rows before the page are then skipped in an index
    (with the sort columns and the id) instead of being read in full, which kept a deep page's cost growing with its
    depth. The total comes with the ids (a count over every match, which the database makes on its way to the
    page), so a page costs two statements, not three; only a page past the end, which has no row to carry it,
    counts on its own."""
    page = list(queryset.annotate(_total=Window(Count("pk"))).values_list("pk", "_total")[start : start + size])
    if not page:
        return queryset.count(), []
    ids = [pk for pk, _ in page]
    # By one array of ids (core.lookups' `any`), not in_bulk's IN of one placeholder per id.
    rows = {row[0]: row[1:] for row in queryset.model.objects.filter(pk__any=ids).values_list("pk", *read)}
    return page[0][1], [rows[pk] for pk in ids]
