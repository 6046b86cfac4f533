from django import template

from reconciliation.reports import plain_amount as _plain_amount
from reconciliation.selectors import ENTITY_LABELS

register = template.Library()


@register.filter
def plain_amount(value) -> str:
    """-12.50 as "-12.50": no symbol, no separators."""
    return _plain_amount(value)


@register.filter
def entity_label(entity: str) -> str:
    """ "credit_note" as "credit note"."""
    label = ENTITY_LABELS.get(entity, entity)
    return label[:-1].lower() if label.endswith("s") else label.lower()
