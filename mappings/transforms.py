"""Custom field transforms: read a field of a canonical record, reshape it, and hand it to a Xero field."""

from datetime import date, datetime
from decimal import Decimal

from mappings.models import FieldTransform

Transform = FieldTransform.Transform
MAX_OUTPUT = 4000


class TransformError(ValueError):
    """A transform that cannot run (bad argument); the message says how to fix it."""


def field_value(record, path: str):
    """The value at a dotted path of a canonical record ("number", "contact.email", "extra.po_number"), or None."""
    value = record
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get(part)
        elif part.startswith("_"):
            # Only public fields of the record: a path is user input.
            return None
        else:
            value = getattr(value, part, None)
        if callable(value):
            return None
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def transform_check(*, transform: str, argument: str, lookup) -> str | None:
    """Why this transform's settings cannot work, or None."""
    if transform == Transform.TRUNCATE:
        if not argument.isdigit() or int(argument) < 1:
            return "Truncate needs a whole number of characters, for example 20."
    elif transform == Transform.TEMPLATE:
        if "{value}" not in argument:
            return "A template must contain {value} where the field goes, for example “PO {value}”."
    elif transform == Transform.PREFIX:
        if not argument:
            return "Give the prefix to add."
    elif transform == Transform.DATE_FORMAT:
        if "%" not in argument:
            return "Give a date format such as %d/%m/%Y."
        try:
            datetime(2024, 1, 31).strftime(argument)
        except ValueError:
            return "That date format is not valid."
    elif transform == Transform.LOOKUP:
        if not isinstance(lookup, dict) or not lookup:
            return 'A lookup table maps source values to Xero values, for example {"wholesale": "Trade"}.'
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in lookup.items()):
            return "Every entry of the lookup table maps a text to a text."
    return None


def transform_apply(*, transform: str, argument: str, lookup, value) -> str:
    """The transformed text. Raises TransformError when the settings cannot work."""
    problem = transform_check(transform=transform, argument=argument, lookup=lookup)
    if problem:
        raise TransformError(problem)
    if transform == Transform.DATE_FORMAT:
        if isinstance(value, datetime | date):
            return value.strftime(argument)[:MAX_OUTPUT]
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value).strftime(argument)[:MAX_OUTPUT]
            except ValueError:
                return value[:MAX_OUTPUT]
        return _text(value)
    text = _text(value)
    if transform == Transform.TEMPLATE:
        # Plain substitution, not str.format: the template is user input and must not reach attributes.
        text = argument.replace("{value}", text)
    elif transform == Transform.PREFIX:
        text = argument + text
    elif transform == Transform.TRUNCATE:
        text = text[: int(argument)]
    elif transform == Transform.UPPER:
        text = text.upper()
    elif transform == Transform.LOWER:
        text = text.lower()
    elif transform == Transform.TITLE:
        text = text.title()
    elif transform == Transform.LOOKUP:
        text = lookup.get(text, text)
    return text[:MAX_OUTPUT]


def transforms_apply(transforms, *, entity: str, record) -> dict[str, str]:
    """Target → text for every active transform of `entity` that yields a value; later ones win per target."""
    out = {}
    for item in transforms:
        if item.entity != entity or not item.is_active:
            continue
        value = field_value(record, item.source_field)
        if value in (None, ""):
            continue
        try:
            text = transform_apply(transform=item.transform, argument=item.argument, lookup=item.lookup, value=value)
        except TransformError:
            continue
        if text:
            out[item.target] = text
    return out
