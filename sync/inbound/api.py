"""Partner ingest: POST /api/v1/tenants/{tenant_id}/ingest/{contacts|orders|payments|refunds|products}/."""

import hashlib
import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from connections.canonical import to_json
from connections.models import Connection
from core.errors import ApplicationError, NotFoundError
from sync.inbound.serializers import ENTITIES, IngestAnswer, batch_serializer
from sync.inbound.services import ingest_records_receive
from sync.models import InboundEvent
from tenants.api.base import TenantScopedViewSet

MAX_IDEMPOTENCY_KEY = 255

EXAMPLES = {
    "contacts": {"id": "C-1001", "email": "ana@example.com", "first_name": "Ana", "last_name": "Lima"},
    "orders": {
        "id": "SO-5001",
        "currency": "AUD",
        "created_at": "2025-03-01T10:15:00Z",
        "lines": [
            {
                "sku": "MUG-1",
                "description": "Mug",
                "quantity": "2",
                "unit_price": "12.50",
                "tax": "2.50",
                "tax_code": "GST",
                "tax_rate": "10",
            },
            {
                "kind": "shipping",
                "description": "Shipping",
                "quantity": "1",
                "unit_price": "10.00",
                "tax": "1.00",
                "tax_code": "GST",
                "tax_rate": "10",
            },
        ],
        "grand_total": "38.50",
        "contact": {"id": "C-1001", "email": "ana@example.com"},
    },  # fmt: skip
    "payments": {
        "id": "PAY-77",
        "order_id": "SO-5001",
        "amount": "38.50",
        "currency": "AUD",
        "method": "card",
        "paid_at": "2025-03-01T10:16:00Z",
    },  # fmt: skip
    "refunds": {
        "id": "RF-9",
        "order_id": "SO-5001",
        "currency": "AUD",
        "lines": [
            {
                "description": "Mug",
                "quantity": "1",
                "amount": "12.50",
                "tax": "1.25",
                "tax_code": "GST",
                "tax_rate": "10",
            }
        ],
        "total": "13.75",
        "refunded_at": "2025-03-04",
    },  # fmt: skip
    "products": {"id": "P-1", "sku": "MUG-1", "name": "Mug", "price": "12.50", "tax_code": "GST", "tax_rate": "10"},
}


class ConnectionRequiredError(ApplicationError):
    code = "connection_required"
    http_status = 400


class IngestViewSet(TenantScopedViewSet):
    """Records pushed by a partner system, stored in the tenant's inbox and synced to Xero asynchronously."""

    model = InboundEvent
    entity = ""  # set per route
    serializer_class = None

    def _connection(self) -> Connection:
        partners = Connection.objects.filter(tenant=self.tenant, provider="rest").exclude(
            status=Connection.Status.DISCONNECTED
        )
        chosen = self.request.query_params.get("connection")
        if chosen is not None:
            if not chosen.isdigit():
                raise NotFoundError("No such partner connection.")
            connection = partners.filter(pk=int(chosen)).first()
            if connection is None:
                raise NotFoundError("No such partner connection.")
            return connection
        found = list(partners[:2])
        if not found:
            raise ConnectionRequiredError(
                "Connect a partner system (REST API) to this tenant before pushing records.",
            )
        if len(found) > 1:
            ids = list(partners.values_list("id", flat=True))
            raise ConnectionRequiredError(
                "This tenant has several partner connections: say which with ?connection=<id>.",
                extra={"connections": ids},
            )
        return found[0]

    def _idempotency_key(self) -> str:
        key = self.request.headers.get("Idempotency-Key", "")
        if len(key) > MAX_IDEMPOTENCY_KEY or (key and not key.isprintable()):
            raise serializers.ValidationError(
                {"Idempotency-Key": [f"At most {MAX_IDEMPOTENCY_KEY} printable characters."]}
            )
        return key.strip()

    def create(self, request, tenant_id=None):
        kind, record_serializer = ENTITIES[self.entity]
        data = request.data
        batch = isinstance(data, dict) and "records" in data
        if batch:
            serializer = self.serializer_class(data=data)
            serializer.is_valid(raise_exception=True)
            validated = serializer.validated_data["records"]
        else:
            if not isinstance(data, dict):
                raise serializers.ValidationError(
                    {"non_field_errors": ['Send one record as an object, or {"records": [...]}.']}
                )
            serializer = record_serializer(data=data)
            serializer.is_valid(raise_exception=True)
            validated = [serializer.validated_data]
        key = self._idempotency_key()
        connection = self._connection()
        records = [to_json(record_serializer().to_canonical(attrs)) for attrs in validated]
        request_hash = hashlib.sha256(
            json.dumps([self.entity, records], sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        answer, replayed = ingest_records_receive(
            connection=connection, kind=kind, records=records, idempotency_key=key, request_hash=request_hash
        )
        response = Response(answer, status=status.HTTP_202_ACCEPTED)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _schema(entity: str):
    kind, record_serializer = ENTITIES[entity]
    example = EXAMPLES[entity]
    return extend_schema(
        operation_id=f"ingest_{entity}",
        summary=f"Push {entity}",
        description=(
            f'Push one {kind} (the object itself) or a batch (`{{"records": [...]}}`, up to 500) from the tenant\'s '
            "partner system. Records are validated (money as decimal strings, totals must add up), stored in the "
            "inbox and synced to Xero asynchronously. A record identical to one already received is counted as a "
            "duplicate. With an `Idempotency-Key`, a retry of the same request returns the first answer; the same "
            "key with a different body is a 409. If the tenant has several partner connections, name one with "
            "`?connection=<id>`."
        ),
        tags=["ingest"],
        parameters=[
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("connection", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False),
        ],
        request=PolymorphicProxySerializer(
            component_name=f"{record_serializer.__name__.removesuffix('In')}Ingest",
            serializers=[record_serializer, batch_serializer(record_serializer)],
            resource_type_field_name=None,
        ),
        responses={202: IngestAnswer},
        examples=[
            OpenApiExample(f"One {kind}", value=example, request_only=True),
            OpenApiExample("A batch", value={"records": [example]}, request_only=True),
            OpenApiExample("Accepted", value={"accepted": 1, "duplicates": 0, "events": [4711]}, response_only=True),
        ],
    )


def ingest_view(entity: str):
    """The view of one route: its own class, so each entity has its own serializer and documented schema."""

    def create(self, request, tenant_id=None):
        return IngestViewSet.create(self, request, tenant_id=tenant_id)

    view_class = type(
        f"Ingest{entity.capitalize()}ViewSet",
        (IngestViewSet,),
        {
            "entity": entity,
            "serializer_class": batch_serializer(ENTITIES[entity][1]),
            "create": _schema(entity)(create),
        },
    )
    return view_class.as_view({"post": "create"})
