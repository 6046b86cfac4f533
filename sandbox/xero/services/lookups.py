"""An organisation's rows read by key on PostgreSQL: one index probe per key, whatever the planner estimates.

A batch reads up front what its 50 elements refer to: contacts by id, number or name, documents by id or number. As
one `org_id = … AND (id IN (…) OR number IN (…))` the plan rests on statistics these tables do not have: an
organisation's rows are written after the last ANALYZE (nothing analyses the simulator's tables while it runs), the
planner takes `org_id = …` for a handful of rows, and it read every row of the organisation to keep 50, whichever
index it had: 1 to 8 ms a batch by the end of a bench_sync --orders 5000 (2,700 contacts, 4,600 invoices).

Here each key is matched on its own, in a LATERAL subquery that OFFSET 0 keeps from being flattened into a join
(which the planner would cost with the same estimate), on an index of the key alone (the primary key, a number, an
upper-cased name): a batch's 50 probes take about 0.3 ms. The organisation is compared as `org_id + 0`, which no index
answers: an index leading with org_id would otherwise look as cheap as the key's for a table believed to hold a
handful of rows, and the planner took either. A statement is planned for its values every time (not prepared): a
plan kept from a run's first batches, while a table was near empty, would scan it for every key however large it grew.
Other databases keep the ORM's query (Workspace.contacts_load, Workspace.documents_load).
"""

import functools
from typing import NamedTuple

from django.db import connection
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from sandbox.xero.models import Contact


class Key(NamedTuple):
    """Keys of one kind: `match` compares the row `t` with the key `k.v` (its %s take `params`)."""

    match: str
    cast: str  # PostgreSQL type of the keys
    values: list
    params: tuple = ()


def rows_by_key(model, *, org_id: int, keys: list[Key], lock: bool = False, with_contact: bool = False) -> list:
    """The rows of `model` in organisation `org_id` that match any of `keys`, each once, locked FOR UPDATE with
    `lock`; `with_contact` joins each row's contact, cached on it as select_related("contact") does."""
    quote = connection.ops.quote_name
    layout = _layout(model, with_contact)
    table = quote(model._meta.db_table)
    join = ""
    if with_contact:
        contact_table = quote(Contact._meta.db_table)
        contact_id = quote(model._meta.get_field("contact").column)
        join = f" JOIN {contact_table} c ON c.{quote(Contact._meta.pk.column)} = t.{contact_id}"
    org = quote(model._meta.get_field("org").column)
    locking = " FOR UPDATE OF t" if lock else ""
    arms, params = [], []
    for key in keys:
        if not key.values:
            continue
        # Only model metadata and the callers' fixed comparisons are formatted in; every value is a parameter.
        arms.append(
            f"SELECT r.* FROM unnest(%s::{key.cast}[]) AS k(v) CROSS JOIN LATERAL ("  # noqa: S608
            f"SELECT {layout.columns} FROM {table} t{join} WHERE t.{org} + 0 = %s AND {key.match} OFFSET 0{locking}) r"
        )
        params += [list(key.values), org_id, *key.params]
    if not arms:
        return []
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # UNION, not UNION ALL: a contact found by its number and by its name is one row, read and built once.
        cursor.cursor.execute(" UNION ".join(arms), params, prepare=False)
        rows = cursor.cursor.fetchall()
    if not with_contact:
        return _stored(model, layout.own, rows)
    records = _stored(model, layout.own, [row[: layout.contact_start] for row in rows])
    contacts = _stored(Contact, layout.contact, [row[layout.contact_start :] for row in rows])
    for record, contact in zip(records, contacts, strict=True):
        record._state.fields_cache["contact"] = contact
    return records


class _Layout(NamedTuple):
    columns: str  # the select list
    own: tuple  # _conversions of the model's columns, first in a row
    contact: tuple  # _conversions of the contact's columns that follow them (with_contact)
    contact_start: int


@functools.cache
def _layout(model, with_contact: bool) -> _Layout:
    quote = connection.ops.quote_name
    own = _conversions(model)
    columns = [f"t.{quote(f.column)}" for f in model._meta.concrete_fields]
    contact = ()
    if with_contact:
        contact = _conversions(Contact)
        columns += [f"c.{quote(f.column)}" for f in Contact._meta.concrete_fields]
    return _Layout(", ".join(columns), own, contact, len(own[0]))


def _conversions(model) -> tuple:
    """(attnames, conversions) of the model's columns, the conversions being (position, column, converters) of each
    column the ORM's compiler converts when it reads it (the backend's converters, then the field's: a JSON document
    is decoded); on PostgreSQL most columns arrive as the field holds them."""
    attnames, conversions = [], []
    for position, field in enumerate(model._meta.concrete_fields):
        attnames.append(field.attname)
        col = field.get_col(model._meta.db_table)
        converters = (*connection.ops.get_db_converters(col), *col.get_db_converters(connection))
        if converters:
            conversions.append((position, col, converters))
    return tuple(attnames), tuple(conversions)


def _stored(model, layout: tuple, rows: list) -> list:
    """Instances of `model` read from `rows` (its columns, in field order), as Model.from_db makes them: built
    directly when no pre_init/post_init receiver listens, as rows.new_row builds new ones."""
    attnames, conversions = layout
    built = []
    for row in rows:
        if conversions:
            row = list(row)
            for position, col, converters in conversions:
                for converter in converters:
                    row[position] = converter(row[position], col, connection)
        built.append(row)
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return [model.from_db(connection.alias, attnames, row) for row in built]
    records = []
    for row in built:
        obj = model.__new__(model)
        state = ModelState()
        state.adding, state.db = False, connection.alias
        obj.__dict__.update(zip(attnames, row, strict=True))
        obj.__dict__["_state"] = state
        records.append(obj)
    return records
