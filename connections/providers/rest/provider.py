"""A partner system (CRM, ERP, custom shop) pushing records to our REST API. Nothing outbound: the partner
authenticates with an agency API key; the connection names the partner and the record types it may push."""

from connections.providers.base import AuthKind, Provider, Role

PROVIDER = Provider(
    id="rest",
    name="Partner system (REST API)",
    role=Role.SOURCE,
    auth_kind=AuthKind.INBOUND_ONLY,
    record_types=("contacts", "orders", "payments", "refunds", "products"),
)
