"""Posting and contact policies as decisions the sync engine asks for, per record."""

from connections.canonical import Contact, Order
from connections.models import Connection
from mappings.cache import cached
from mappings.models import ContactPolicy, PostingPolicy
from mappings.rules import external_contact_number


def _posting(source_connection: Connection) -> PostingPolicy:
    return cached(
        ("posting_policy", source_connection.pk),
        lambda: (
            PostingPolicy.objects.filter(
                tenant_id=source_connection.tenant_id, source_connection=source_connection
            ).first()
            or PostingPolicy(tenant_id=source_connection.tenant_id, source_connection=source_connection)
        ),
    )


def _contacts(source_connection: Connection) -> ContactPolicy:
    return cached(
        ("contact_policy", source_connection.pk),
        lambda: (
            ContactPolicy.objects.filter(
                tenant_id=source_connection.tenant_id, source_connection=source_connection
            ).first()
            or ContactPolicy(tenant_id=source_connection.tenant_id, source_connection=source_connection)
        ),
    )


def order_invoice_decision(*, source_connection: Connection, order: Order) -> tuple[bool, str]:
    """Whether `order` should have a Xero invoice now, and why (for the audit trail)."""
    policy = _posting(source_connection)
    if order.is_cancelled:
        return False, "the order is cancelled"
    states = [s.lower() for s in policy.invoice_states or []]
    if states and (order.status or "").lower() not in states:
        return False, f"orders in state “{order.status}” are not invoiced (posting policy: {', '.join(states)})"
    return True, "posting policy allows it"


def order_cancel_action(*, source_connection: Connection) -> str:
    """What cancelling an invoiced order does: "void" (void, or delete a draft) or "ignore"."""
    return _posting(source_connection).on_cancel


def order_edit_action(*, source_connection: Connection) -> str:
    """What editing an invoiced order does: "update" (while Xero allows it, else hold) or "ignore"."""
    return _posting(source_connection).on_edit


def credit_notes_applied(*, source_connection: Connection) -> bool:
    """Whether credit notes are approved when created, so they can be allocated or refunded (not left as drafts)."""
    return _posting(source_connection).invoice_status == PostingPolicy.InvoiceStatus.AUTHORISED


def contact_sync_decision(*, source_connection: Connection, contact: Contact) -> tuple[bool, str]:
    """Whether a source customer is synced as a Xero contact, and why not when it is not."""
    policy = _contacts(source_connection)
    groups = [g.lower() for g in policy.sync_customer_groups or []]
    if groups and (contact.group or "").lower() not in groups:
        return False, f"customer group “{contact.group}” is not synced (contact policy: {', '.join(groups)})"
    return True, "contact policy allows it"


def contact_notes_enabled(*, source_connection: Connection) -> bool:
    """Whether the source's support tickets go to their customers' history in Xero as notes."""
    return _contacts(source_connection).ticket_notes


def invoice_contact(*, source_connection: Connection, order: Order) -> Contact | None:
    """The contact an order is invoiced to: its customer, or the shared guests contact when the policy names one."""
    policy = _contacts(source_connection)
    if order.is_guest and policy.guests_contact_name:
        return Contact(source_id="guests", company=policy.guests_contact_name)
    if (
        order.contact is not None
        and not contact_sync_decision(source_connection=source_connection, contact=order.contact)[0]
    ):
        if policy.guests_contact_name:
            return Contact(source_id="guests", company=policy.guests_contact_name)
        return None
    return order.contact


def contact_match_plan(*, source_connection: Connection, contact: Contact) -> list[tuple[str, str]]:
    """(step, value) in the tenant's matching order: how to find an existing Xero contact before creating one.

    Steps: "link" (the stored cross-reference; value is the source id), "contact_number" / "account_number" (the
    external id), "email", "name". Steps with nothing to match on are left out.
    """
    policy = _contacts(source_connection)
    number = external_contact_number(source_connection=source_connection, source_id=contact.source_id)
    values = {
        "link": contact.source_id,
        "contact_number": number,
        "account_number": contact.source_id if policy.account_number == "source_id" else number,
        "email": contact.email,
        "name": contact.name,
    }
    return [(step, values[step]) for step in policy.effective_match_order() if values.get(step)]


def order_paid_status(*, source_connection: Connection) -> str:
    """The order status a source is asked for once the order's Xero invoice is paid ("" leaves it alone)."""
    return _posting(source_connection).paid_order_status
