"""Xero's `where` and `order` query parameters, evaluated over records as Xero renders them.

Supported: `A=="x"`, `!=`, `<`, `<=`, `>`, `>=`, `AND`/`&&`, `OR`/`||`, `NOT`, parentheses, `guid("…")`,
`DateTime(2024,1,31)`, `true`/`false`/`null`, numbers, dotted paths (`Contact.ContactID`), and the string methods
`.StartsWith("x")`, `.EndsWith("x")`, `.Contains("x")`, `.ToLower()`, `.ToUpper()`. String equality ignores case,
as Xero's database collation does.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal


class QueryError(ValueError):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||\(|\)|,|\.|!)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot parse the where clause near {text[pos : pos + 20]!r}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _as_comparable(value):
    if isinstance(value, str):
        match = _MS_DATE.match(value)
        if match:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    return value


def _compare(left, op: str, right) -> bool:
    left, right = _as_comparable(left), _as_comparable(right)
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if isinstance(left, int | float | Decimal) and isinstance(right, int | float | Decimal):
        left, right = Decimal(str(left)), Decimal(str(right))
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if token[0] is None or (value is not None and token[1].upper() != value.upper()):
            raise QueryError(f"expected {value or 'more'} in the where clause")
        self.i += 1
        return token

    def parse(self):
        node = self.or_expr()
        if self.peek()[0] is not None:
            raise QueryError(f"unexpected {self.peek()[1]!r} in the where clause")
        return node

    def or_expr(self):
        node = self.and_expr()
        while self.peek()[1] and self.peek()[1].upper() in ("OR", "||"):
            self.take()
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self):
        node = self.not_expr()
        while self.peek()[1] and self.peek()[1].upper() in ("AND", "&&"):
            self.take()
            node = ("and", node, self.not_expr())
        return node

    def not_expr(self):
        if self.peek()[1] and self.peek()[1].upper() in ("NOT", "!"):
            self.take()
            return ("not", self.not_expr())
        return self.comparison()

    def comparison(self):
        if self.peek()[1] == "(":
            self.take("(")
            node = self.or_expr()
            self.take(")")
            return node
        left = self.operand()
        kind, value = self.peek()
        if kind == "op" and value in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return ("cmp", value, left, self.operand())
        return ("truthy", left)

    def operand(self):
        kind, value = self.take()
        if kind == "string":
            return ("lit", value[1:-1].replace('\\"', '"'))
        if kind == "number":
            return ("lit", Decimal(value))
        if kind != "name":
            raise QueryError(f"unexpected {value!r} in the where clause")
        lowered = value.lower()
        if lowered in ("true", "false"):
            return ("lit", lowered == "true")
        if lowered == "null":
            return ("lit", None)
        if lowered == "guid":
            self.take("(")
            _, text = self.take()
            self.take(")")
            return ("lit", text.strip('"').lower())
        if lowered == "datetime":
            self.take("(")
            parts = [int(self.take()[1])]
            while self.peek()[1] == ",":
                self.take(",")
                parts.append(int(self.take()[1]))
            self.take(")")
            return ("lit", datetime(*parts, tzinfo=UTC))
        path, methods = [value], []
        while self.peek()[1] == ".":
            self.take(".")
            _, name = self.take()
            if self.peek()[1] == "(":
                self.take("(")
                args = []
                if self.peek()[1] != ")":
                    args.append(self.operand())
                self.take(")")
                methods.append((name.lower(), args))
            elif methods:
                raise QueryError("a property cannot follow a method call")
            else:
                path.append(name)
        return ("field", path, methods)


def _value(node, record: dict):
    if node[0] == "lit":
        return node[1]
    _, path, methods = node
    value = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F-]{36}", value):
        value = value.lower()
    for name, args in methods:
        arg = _value(args[0], record) if args else None
        text = "" if value is None else str(value)
        if name == "tolower":
            value = text.lower()
        elif name == "toupper":
            value = text.upper()
        elif name == "startswith":
            value = text.lower().startswith(str(arg).lower())
        elif name == "endswith":
            value = text.lower().endswith(str(arg).lower())
        elif name == "contains":
            value = str(arg).lower() in text.lower()
        else:
            raise QueryError(f"unsupported method {name}")
    return value


def _evaluate(node, record: dict) -> bool:
    kind = node[0]
    if kind == "or":
        return _evaluate(node[1], record) or _evaluate(node[2], record)
    if kind == "and":
        return _evaluate(node[1], record) and _evaluate(node[2], record)
    if kind == "not":
        return not _evaluate(node[1], record)
    if kind == "truthy":
        return bool(_value(node[1], record))
    return _compare(_value(node[2], record), node[1], _value(node[3], record))


def where_filter(records: list[dict], where: str | None) -> list[dict]:
    """Keep the rendered records matching a `where` clause (QueryError when it does not parse)."""
    if not where or not where.strip():
        return records
    tree = _Parser(where).parse()
    return [record for record in records if _evaluate(tree, record)]


def order_records(records: list[dict], order: str | None) -> list[dict]:
    """`order=Name ASC,UpdatedDateUTC DESC` (stable, applied right to left)."""
    if not order:
        return records
    for clause in reversed([part.strip() for part in order.split(",") if part.strip()]):
        field, _, direction = clause.partition(" ")

        def key(record, field=field):
            value = _as_comparable(_value(("field", field.split("."), []), record))
            if isinstance(value, str):
                value = value.lower()
            return (value is None, value if value is not None else "")

        try:
            records = sorted(records, key=key, reverse=direction.strip().upper() == "DESC")
        except TypeError as exc:
            raise QueryError(f"cannot order by {field}") from exc
    return records


_METHODS = {"tolower", "toupper", "startswith", "endswith", "contains"}


def _methods_supported(node) -> bool:
    kind = node[0]
    if kind in ("or", "and"):
        return _methods_supported(node[1]) and _methods_supported(node[2])
    if kind == "not":
        return _methods_supported(node[1])
    if kind == "truthy":
        return _methods_supported(node[1])
    if kind == "cmp":
        return _methods_supported(node[2]) and _methods_supported(node[3])
    if kind == "field":
        return all(name in _METHODS and all(_methods_supported(a) for a in args) for name, args in node[2])
    return True


def _prefilter(node, columns: dict):
    """A Q that keeps at least every row the node can match, or None when the node cannot narrow the rows."""
    from django.db.models import Q

    kind = node[0]
    if kind == "and":
        left, right = _prefilter(node[1], columns), _prefilter(node[2], columns)
        if left is None or right is None:
            return left or right
        return left & right
    if kind == "or":
        left, right = _prefilter(node[1], columns), _prefilter(node[2], columns)
        return None if left is None or right is None else left | right
    if kind != "cmp" or node[1] != "==":
        return None
    field, literal = node[2], node[3]
    if field[0] == "lit":
        field, literal = literal, field
    if field[0] != "field" or literal[0] != "lit" or field[2]:
        return None
    column = columns.get(".".join(field[1]))
    value = literal[1]
    # Only plain ASCII text: there Python's lower() and the database's case-insensitive match agree exactly.
    if column is None or not isinstance(value, str) or not value.isascii() or _MS_DATE.match(value):
        return None
    if column.endswith("id"):
        import uuid

        try:
            return Q(**{column: uuid.UUID(value)})
        except ValueError:
            return None
    return Q(**{f"{column}__iexact": value})


def where_prefilter(where: str | None, columns: dict):
    """For `where`, a database filter on `columns` (Xero field path → ORM lookup) that keeps a superset of the rows
    the clause matches, or None. The clause is still evaluated on the rendered records: this only spares rendering
    rows that cannot match. Clauses whose evaluation could fail are left alone (QueryError stays the same)."""
    if not where or not where.strip():
        return None
    tree = _Parser(where).parse()
    if not _methods_supported(tree):
        return None
    return _prefilter(tree, columns)


_DATE_OPS = {"==": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}


def _exact(node, columns: dict, date_columns: dict):
    """A Q matching exactly the rows the node matches, or None when the database cannot answer it exactly."""
    from django.db.models import Q

    kind = node[0]
    if kind in ("and", "or"):
        left, right = _exact(node[1], columns, date_columns), _exact(node[2], columns, date_columns)
        if left is None or right is None:
            return None
        return left & right if kind == "and" else left | right
    if kind != "cmp":
        return None
    op, field, literal = node[1], node[2], node[3]
    if field[0] == "lit":
        field, literal, op = literal, field, _FLIPPED.get(op, op)
    if field[0] != "field" or literal[0] != "lit" or field[2]:
        return None
    name, value = ".".join(field[1]), literal[1]
    date_column = date_columns.get(name)
    if date_column and op in _DATE_OPS and isinstance(value, datetime):
        # A rendered date is midnight UTC, so only a whole-day DateTime compares like the date itself.
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            return None
        return Q(**{f"{date_column}__{_DATE_OPS[op]}": value.date()})
    if op != "==" or not isinstance(value, str) or not value:
        return None
    prefilter = _prefilter(node, columns)
    # Text equality on a plain ASCII literal: the database's case-insensitive match is Python's lower() exactly.
    return prefilter


def where_exact(where: str | None, columns: dict, date_columns: dict):
    """For `where`, a database filter that matches exactly the rows the clause matches (text equality on columns,
    whole-day comparisons on date columns, combined with AND/OR), or None when any part needs the rendered record.
    With it a paged list can be paged in SQL instead of rendering every candidate row."""
    if not where or not where.strip():
        return None
    return _exact(_Parser(where).parse(), columns, date_columns)
