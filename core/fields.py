"""Model fields that differ from Django's only in Python, never in their columns."""

import json

from django.db import models
from django.db.models.fields.json import KeyTransform, KeyTransformFactory

from core import jsonfast


class JSONField(models.JSONField):
    """Django's JSONField, its documents read by orjson wherever that reads exactly what json reads
    (core.jsonfast): processing reads every inbox event's body and the drain every job's canonical record, and
    json's reading was a sixth of processing's CPU."""

    def from_db_value(self, value, expression, connection):
        if type(value) is str and self.decoder is None:
            return json_text_load(value)
        return super().from_db_value(value, expression, connection)

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        # Only the reading differs: the column, and so every migration, is Django's JSONField's.
        return name, "django.db.models.JSONField", args, kwargs


def json_text_load(text: str):
    """A JSON column's text as JSONField reads it: decoded by orjson where that reads exactly what json reads."""
    try:
        try:
            return jsonfast.loads(text.encode())
        except UnicodeEncodeError:
            return json.loads(text)  # a lone surrogate (no PostgreSQL text holds one): json's own reading
    except json.JSONDecodeError:
        return text  # as Django's JSONField does


class StoredJson:
    """A JSON column's value as stored (its text), for a reader that decodes it only where it uses it
    (stored_json_load), one at a time, rather than every row of what it read at once.

    The drain's batches (a job's canonical record) and processing's chunks (an event's body) held 1 MB and 4 MB of
    small decoded objects while they were built and staged, and CPython keeps resident every page of its object
    arenas that such a peak has touched. As text, each value is one block of the C allocator, returned when it is
    freed. Not JSON itself: a model saved with one in a JSON field fails rather than storing the text.
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def stored_json_load(value):
    """The decoded document of a StoredJson, and any other value as it is."""
    if isinstance(value, StoredJson):
        return json_text_load(value.text)
    return value


class JSONTextField(JSONField):
    """A JSONField whose PostgreSQL column is `json` (the text as written, checked to be JSON) rather than `jsonb`.

    For documents written once and read back whole, never searched inside: an inbound event's body. jsonb parses
    each document into its binary form on the way in and prints it again on the way out, which for a poll's pages
    of orders (several kilobytes each) was most of the database's work for the inbox. Other databases: as
    JSONField.

    Reads cast the column to text, so the document is decoded here (JSONField.from_db_value) as a jsonb one is, not
    by the driver's own, slower, json loader. A path into the document (`body__eventCategory`) reads it as jsonb,
    as JSONField's lookups expect (json has no equality): for the occasional query that filters on one.
    """

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def select_format(self, compiler, sql, params):
        if compiler.connection.vendor == "postgresql":
            return f"({sql})::text", params
        return super().select_format(compiler, sql, params)

    def get_transform(self, name):
        transform = super().get_transform(name)
        if isinstance(transform, KeyTransformFactory):
            return _JsonbKeyTransformFactory(name)
        return transform

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        # Unlike JSONField's, this column differs from Django's JSONField's: migrations name this class.
        return name, "core.fields.JSONTextField", args, kwargs


class _JsonbKeyTransform(KeyTransform):
    """A path into a json column, read as jsonb (see JSONTextField)."""

    def preprocess_lhs(self, compiler, connection):
        lhs, params, keys = super().preprocess_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            lhs = f"({lhs})::jsonb"
        return lhs, params, keys


class _JsonbKeyTransformFactory(KeyTransformFactory):
    def __call__(self, *args, **kwargs):
        return _JsonbKeyTransform(self.key_name, *args, **kwargs)
