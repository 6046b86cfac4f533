"""The `any` lookup: `field__any=values` is `field__in=values`, written `field = ANY(%s)` on PostgreSQL.

Django writes `IN (%s, %s, …)` with one parameter per value, and with client-side binding psycopg parses the
statement's text for its placeholders in Python every time it runs (it caches that only for statements of few
parameters): for the few hundred ids or keys processing and staging look up per chunk, that parsing cost more than
the rest of the statement's Python work. One array parameter leaves a short text, parsed once. Other databases get
IN.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field
from django.db.models.lookups import In


@Field.register_lookup
class AnyOf(In):
    lookup_name = "any"

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql" or not self.rhs_is_direct_value():
            return super().as_sql(compiler, connection)
        # As In: NULL is never equal to anything, and no values match nothing.
        values = list(dict.fromkeys(value for value in self.rhs if value is not None))
        if not values:
            raise EmptyResultSet
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=True) for value in values]
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, values)
