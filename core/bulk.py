"""rows_insert and rows_update: many rows of one model in one PostgreSQL statement each, where the ORM's bulk
methods cost more in Python than the database's work (a world being built, a drain batch being recorded).

bulk_create on PostgreSQL sends each column as one array parameter (INSERT … SELECT * FROM UNNEST(…)); with
client-side binding psycopg escapes every element of those arrays in Python, which for rows carrying JSON text
costs more than the database's work. COPY streams the rows in PostgreSQL's copy format through psycopg's C
encoder instead. It returns no generated keys, so it is for rows whose primary key is set (UUIDs) or is never
read back. Other databases (SQLite for a local run) get bulk_create.

bulk_update builds a CASE expression per column and row; rows_update sends one UPDATE … FROM unnest(…), one array
per column (FROM (VALUES …) when a column cannot go as one array), instead.
"""

import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from django.db import connections, router
from django.db.models import AutoField, BigAutoField, DecimalField, JSONField, SmallAutoField

AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)
BATCH = 2000
# Values the driver writes to their column exactly as the field's own preparation would (which returns them as
# they are): they skip it, which is most of the cost per value. Anything else, and every JSON value, goes through
# the field.
_AS_IS = frozenset({str, int, bool, Decimal, uuid.UUID, date, datetime, type(None)})


class JsonText(str):
    """A JSON document its caller has already encoded, for a JSONField of a row given to rows_insert: written as it
    is rather than decoded by the caller to be encoded again by the field (a drain batch's payloads are encoded
    for sending anyway)."""


def _preparer(field, connection):
    to_db = field.get_db_prep_save
    if isinstance(field, JSONField):
        # COPY's text format reads a jsonb column's field as JSON text.
        return lambda value: str(value) if type(value) is JsonText else to_db(value, connection)
    return lambda value: value if type(value) in _AS_IS else to_db(value, connection)


def rows_insert(model, rows, *, batch_size: int = BATCH) -> int:
    """Insert unsaved `rows` of `model` (auto_now fields filled as save() would); returns how many. A JSONField's
    value may be JsonText (stored as that document)."""
    rows = list(rows)
    if not rows:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        for field in model._meta.concrete_fields:
            if isinstance(field, JSONField):
                for row in rows:
                    if type(getattr(row, field.attname)) is JsonText:
                        setattr(row, field.attname, json.loads(getattr(row, field.attname)))
        model.objects.using(using).bulk_create(rows, batch_size=batch_size)
        return len(rows)
    # An auto primary key left unset is the database's to assign.
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, AUTO_FIELDS) and any(getattr(r, f.attname) is None for r in rows))
    ]
    prepare = [(f, _preparer(f, connection)) for f in fields]
    copy_rows(connection, model, fields, ([to_db(f.pre_save(row, True)) for f, to_db in prepare] for row in rows))
    for row in rows:
        row._state.adding = False
        row._state.db = using
    return len(rows)


def values_insert(model, names: tuple[str, ...], rows: list[tuple]) -> int:
    """Insert rows given as tuples of values for the fields `names` of `model` (attnames, in that order), with one
    COPY; returns how many. For rows built only to be stored (a drain batch's audit entries): no model instance is
    made for each, nor its fields' pre_save run, which cost more than the COPY itself. Auto fields (created_at,
    updated_at) are not filled in: the caller names and sets them. A JSONField's value may be JsonText. Other
    databases get rows_insert of instances made from the tuples."""
    if not rows:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        return rows_insert(model, [model(**dict(zip(names, row, strict=True))) for row in rows])
    fields = [model._meta.get_field(name) for name in names]
    prepare = [_preparer(f, connection) for f in fields]
    copy_rows(connection, model, fields, ([to_db(v) for v, to_db in zip(row, prepare, strict=True)] for row in rows))
    return len(rows)


def copy_rows(connection, model, fields, rows) -> None:
    """One COPY into `model`'s table of `rows`, each the values of `fields` in order, already as the driver writes
    them (prepared by the caller: rows_insert, values_insert, the simulated Xero's rows). PostgreSQL only."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    # The driver's own cursor does the COPY: its errors are raised as Django's (IntegrityError, …) as any query's.
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def rows_update(model, rows, names, *, same: dict | None = None) -> int:
    """Set the columns `names` of stored `rows` of `model` to the values on the instances, and each column in
    `same` to its one value for every row, in one statement; returns how many. Other databases get bulk_update.

    A value the rows share is sent once rather than once per row: the driver parses and quotes every placeholder
    of a statement this large in Python (it caches none over 50 parameters), which was most of its cost."""
    rows = list(rows)
    if not rows:
        return 0
    same = same or {}
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        for obj in rows:
            for name, value in same.items():
                setattr(obj, name, value)
        model.objects.using(using).bulk_update(rows, [*names, *same])
        return len(rows)
    pk = model._meta.pk
    fields = [pk, *(model._meta.get_field(name) for name in names)]
    shared = [model._meta.get_field(name) for name in same]
    quote = connection.ops.quote_name
    params = [f.get_db_prep_save(same[f.name], connection) for f in shared]
    table, key = quote(model._meta.db_table), quote(pk.column)
    sets = ", ".join(
        [f"{quote(f.column)} = %s::{f.db_type(connection)}" for f in shared]
        + [f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:]]
    )
    aliases = ", ".join(quote(f.column) for f in fields)
    columns = _columns(fields, rows, connection)
    if columns is not None:
        # One array per column: a statement of a few parameters.
        source = "unnest(" + ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields) + ")"
        params += columns
    else:
        # Each value is cast to its column's type: VALUES alone would guess (text, numeric) and the SET would fail.
        row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")"
        source = "(VALUES " + ", ".join([row] * len(rows)) + ")"
        params += [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in rows for f in fields]
    # Only model metadata (quoted names, column types) is formatted in; every value is a parameter.
    sql = f"UPDATE {table} SET {sets} FROM {source} AS v ({aliases}) WHERE {table}.{key} = v.{key}"  # noqa: S608
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
    return len(rows)


def _columns(fields: list, rows: list, connection) -> list[list] | None:
    """Each field's values over `rows`, prepared as for a save, as the array parameters of one UPDATE … FROM
    unnest(): a VALUES list has one parameter per value (a batch's 50 invoices, 250), each parsed and quoted by the
    driver in Python. None when a column cannot go as one array: JSON, or values of more than one type (an int
    among a numeric column's Decimals is made the Decimal it stands for)."""
    columns = []
    for field in fields:
        if isinstance(field, JSONField):
            return None
        values = [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows]
        if isinstance(field, DecimalField):
            values = [Decimal(v) if type(v) is int else v for v in values]
        if len({type(v) for v in values} - {type(None)}) > 1:
            return None
        columns.append(values)
    return columns
