"""Writing a workspace's pending rows in as few, and as cheap, statements as PostgreSQL allows.

Django's bulk_create and bulk_update prepare every value through several layers and, for updates, build a CASE
expression per column and row; for a batch of 50 documents with their lines that was most of a request's time.
Here new rows go as one COPY per table (rows_copy) and one UPDATE … FROM unnest(…) per set of columns
(core.bulk.rows_update).
Any other database falls back to the ORM's bulk methods.
"""

import functools
import operator
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.db import connections, router
from django.db.models import (
    NOT_PROVIDED,
    AutoField,
    BigAutoField,
    DateField,
    DecimalField,
    Field,
    JSONField,
    SmallAutoField,
    UUIDField,
)
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from core import bulk

_AUTO = (AutoField, BigAutoField, SmallAutoField)


def new_row(model, **values):
    """A new, unsaved instance of `model` holding `values` (by column attribute: `org_id`, not `org`) and every other
    field's default, as `model(**values)` would.

    Built the way Model.__init__ builds it from one value per concrete field, without the call: its pre_init and
    post_init signals (which no receiver listens to for these models) and a setattr per field through the field's
    descriptor cost more than the values themselves, over the 50,000 lines, history entries and documents of a
    synchronisation's batches. The defaults that never change (a constant, None, "") are copied in at once from the
    model's blueprint; only a callable default (uuid4, now, dict) is called, once per row, and not for a value
    given. Should a receiver ever listen, the instance is built by Model.__init__ as before. A related instance is
    not cached on it: read `org` and the like through the workspace, or set them after."""
    blueprint = _blueprint(model)
    if not values.keys() <= blueprint.names:
        raise TypeError(f"{model.__name__} has no field attribute(s) {', '.join(values.keys() - blueprint.names)}")
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model(*[values[name] if name in values else default() for name, default in blueprint.fields])
    obj = model.__new__(model)
    row = obj.__dict__
    row["_state"] = ModelState()
    row.update(blueprint.constants)
    for name, default in blueprint.called:
        if name not in values:
            row[name] = default()
    row.update(values)
    return obj


class _Blueprint(NamedTuple):
    fields: tuple  # (attribute, get_default) of each concrete field, in field order
    constants: dict  # attribute → the default that is the same for every row
    called: tuple  # (attribute, default) of the fields whose default is called per row
    names: frozenset


@functools.cache
def _blueprint(model) -> _Blueprint:
    """What a new row of `model` holds before its values: Field.get_default() answers the same value every time
    for a field without a default (None, or "" for a text field) and for one whose default is not callable; a
    callable default, or a database default, is asked per row."""
    constants, called = {}, []
    for field in model._meta.concrete_fields:
        varies = (field.has_default() and callable(field.default)) or field.db_default is not NOT_PROVIDED
        if varies:
            called.append((field.attname, field.get_default))
        else:
            constants[field.attname] = field.get_default()
    fields = tuple((field.attname, field.get_default) for field in model._meta.concrete_fields)
    return _Blueprint(fields, constants, tuple(called), frozenset(name for name, _ in fields))


def rows_insert(model, objs: list) -> None:
    """INSERT `objs` (new instances of `model`, every value already set) with one COPY (rows_copy)."""
    if not objs:
        return
    _as_stored(model, objs, model._meta.concrete_fields)
    if isinstance(model._meta.pk, _AUTO):
        # Rows with a sequence-generated key need it back on the instance: the ORM reads it with RETURNING.
        model.objects.bulk_create(objs)
        return
    rows_copy(model, objs)


def rows_copy(model, objs: list) -> None:
    """core.bulk.rows_insert for the simulator's rows, new instances holding every value (new_row): one COPY, each
    row's values taken from the instance at once rather than through each field's pre_save and preparation.

    A value of a type the driver writes as the field's preparation would (core.bulk._AS_IS) goes as it is, the rest
    through the field; JSON (an empty list or object is the same text every time) and a field that computes its
    value when saved (auto_now, …) go through the field too. An auto primary key left unset is the database's to
    assign (history entries). Other databases, or a row missing a value, take core.bulk.rows_insert."""
    if not objs:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    plan = _copy_plan(model, auto_pk=any(obj.pk is None for obj in objs))
    if connection.vendor != "postgresql" or any(not plan.names <= obj.__dict__.keys() for obj in objs):
        bulk.rows_insert(model, objs)
        return
    plain, computed, getter = plan.plain, plan.computed, plan.getter
    as_is = bulk._AS_IS

    def values_of(obj) -> tuple:
        values = getter(obj.__dict__)
        if not all(map(as_is.__contains__, map(type, values))):
            values = tuple(
                v if type(v) in as_is else f.get_db_prep_save(v, connection) for v, f in zip(values, plain, strict=True)
            )
        if computed:
            values += tuple(_computed_value(f, obj, connection) for f in computed)
        return values

    bulk.copy_rows(connection, model, (*plain, *computed), map(values_of, objs))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


class _CopyPlan(NamedTuple):
    plain: tuple  # fields whose value is the instance's attribute as it is
    computed: tuple  # JSON fields, and fields whose pre_save computes the value
    getter: object  # the plain fields' values of an instance's __dict__, as a tuple
    names: frozenset  # the attributes an instance must hold


@functools.cache
def _copy_plan(model, *, auto_pk: bool) -> _CopyPlan:
    plain, computed = [], []
    for field in model._meta.concrete_fields:
        if auto_pk and field.primary_key and isinstance(field, _AUTO):
            continue
        stamped = type(field).pre_save is not Field.pre_save and (
            not isinstance(field, DateField) or field.auto_now or field.auto_now_add
        )
        (computed if stamped or isinstance(field, JSONField) else plain).append(field)
    names = [f.attname for f in plain]
    getter = operator.itemgetter(*names) if len(names) > 1 else (lambda row: tuple(row[n] for n in names))
    return _CopyPlan(tuple(plain), tuple(computed), getter, frozenset(names))


_EMPTY_JSON = {list: "[]", dict: "{}"}


def _computed_value(field, obj, connection):
    value = field.pre_save(obj, True)
    if isinstance(field, JSONField):
        if type(value) is bulk.JsonText:
            return str(value)
        if not value and type(value) in _EMPTY_JSON:
            return _EMPTY_JSON[type(value)]  # COPY's text format reads a jsonb column's field as JSON text
    return value if type(value) in bulk._AS_IS else field.get_db_prep_save(value, connection)


def rows_update(model, objs: list, names: tuple[str, ...], *, same: bool = False) -> None:
    """UPDATE the columns `names` of `objs` (stored instances of `model`) to their values, in one statement.

    `same`: every instance carries the same values, so a plain UPDATE … WHERE pk IN (…) does.
    """
    if not objs:
        return
    pk = model._meta.pk
    fields = [pk, *(model._meta.get_field(name) for name in names)]
    _as_stored(model, objs, fields[1:])
    if same:
        values = {f.name: getattr(objs[0], f.attname) for f in fields[1:]}
        model.objects.filter(pk__in=[obj.pk for obj in objs]).update(**values)
        return
    bulk.rows_update(model, objs, names)


def _as_stored(model, objs: list, fields: list) -> None:
    """Put on the instances, before they are written, what their columns will hold: a batch answers from them as
    from a fresh read, and every database stores the same value.

    A numeric column keeps its decimal places, rounding half away from zero (as Xero does, and PostgreSQL's
    numeric; rounded here, SQLite does not round its own way, half to even); a UUID column reads back as a UUID,
    whatever spelling was written.
    """
    for field in fields:
        if isinstance(field, DecimalField):
            places = Decimal(1).scaleb(-field.decimal_places)
            for obj in objs:
                value = getattr(obj, field.attname)
                if isinstance(value, Decimal) and value.is_finite():
                    setattr(obj, field.attname, value.quantize(places, ROUND_HALF_UP))
        elif isinstance(field, UUIDField):
            for obj in objs:
                value = getattr(obj, field.attname)
                if value is not None and not isinstance(value, uuid.UUID):
                    setattr(obj, field.attname, field.to_python(value))
