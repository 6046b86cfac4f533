"""Writing a workspace's pending rows in as few, and as cheap, statements as PostgreSQL allows.

Django's bulk_create and bulk_update prepare every value through several layers and, for updates, build a CASE
expression per column and row; for a batch of 50 documents with their lines that was most of a request's time.
Here new rows go as one COPY per table (core.bulk.rows_insert) and one UPDATE … FROM (VALUES …) per set of columns.
Any other database falls back to the ORM's bulk methods.
"""

import functools
import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import AutoField, BigAutoField, DecimalField, SmallAutoField, UUIDField
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
    synchronisation's batches. Should a receiver ever listen, the instance is built by Model.__init__ as before. A
    related instance is not cached on it: read `org` and the like through the workspace, or set them after."""
    fields = _blueprint(model)
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        args = [values.pop(name) if name in values else default() for name, default in fields]
        _no_other_values(model, values)
        return model(*args)
    obj = model.__new__(model)
    obj._state = ModelState()
    row = obj.__dict__
    for name, default in fields:
        # A fresh instance caches no related object, so a foreign key's attribute is set as its descriptor would.
        row[name] = values.pop(name) if name in values else default()
    _no_other_values(model, values)
    return obj


@functools.cache
def _blueprint(model) -> tuple:
    """(attribute, default) of each of `model`'s concrete fields, in field order."""
    return tuple((field.attname, field.get_default) for field in model._meta.concrete_fields)


def _no_other_values(model, values: dict) -> None:
    if values:
        raise TypeError(f"{model.__name__} has no field attribute(s) {', '.join(values)}")


def rows_insert(model, objs: list) -> None:
    """INSERT `objs` (new instances of `model`, every value already set) with one COPY (core.bulk.rows_insert)."""
    if not objs:
        return
    _as_stored(model, objs, model._meta.concrete_fields)
    if isinstance(model._meta.pk, _AUTO):
        # Rows with a sequence-generated key need it back on the instance: the ORM reads it with RETURNING.
        model.objects.bulk_create(objs)
        return
    bulk.rows_insert(model, objs)


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
