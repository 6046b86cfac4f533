from datetime import timedelta

import factory
from django.utils import timezone

from tenants.models import ActivityEntry, Agency, ApiKey, Invitation, Membership, Tenant, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["email"]

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct-horse-battery")


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"Agency {n}")
    slug = factory.Sequence(lambda n: f"agency-{n}")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    country = "AU"
    base_currency = "AUD"
    timezone = "Australia/Sydney"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    agency = factory.SubFactory(AgencyFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class ActivityEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActivityEntry

    tenant = factory.SubFactory(TenantFactory)
    actor = "system"
    action = "test.event"
    subject = factory.Sequence(lambda n: f"subject {n}")


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    agency = factory.SubFactory(AgencyFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    token_hash = factory.Sequence(lambda n: Invitation.hash_token(f"token-{n}"))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    prefix = factory.Sequence(lambda n: f"{n:08x}")
    secret_hash = factory.Sequence(lambda n: ApiKey.hash_key(f"secret-{n}"))


# Connections ----------------------------------------------------------------------------------------------------

from connections import crypto  # noqa: E402
from connections.models import Connection  # noqa: E402


class ConnectionFactory(factory.django.DjangoModelFactory):
    """A Magento connection with an encrypted access token (pass credentials={} for none)."""

    class Meta:
        model = Connection
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    provider = "magento"
    display_name = factory.Sequence(lambda n: f"Store {n}")
    status = "active"
    status_changed_at = factory.LazyFunction(timezone.now)
    external_account_id = factory.Sequence(lambda n: f"shop{n}.example.com/default")
    base_url = factory.Sequence(lambda n: f"https://shop{n}.example.com/rest/default")

    @factory.post_generation
    def credentials(obj, create, extracted, **kwargs):
        value = {"access_token": f"factory-token-{obj.pk}-x9"} if extracted is None else extracted
        if value and obj.pk is not None:
            obj.credentials_ciphertext = crypto.encrypt_for(obj, purpose=crypto.PURPOSE_CREDENTIALS, value=value)
            obj.save(update_fields=["credentials_ciphertext"])


# Sync -----------------------------------------------------------------------------------------------------------
# The isolation matrix and the bad-input test find a factory for every served model by reflection, so a
# factory no test names directly is still in use.
from connections.models import PartnerWebhookEndpoint  # noqa: E402
from sync.models import (  # noqa: E402
    Alert,
    AuditEntry,
    Backfill,
    CrossReference,
    DeadLetter,
    InboundEvent,
    SyncJob,
    WriteBack,
)


class SyncJobFactory(factory.django.DjangoModelFactory):
    """A pending contact job from a Magento connection to a Xero connection of the same tenant."""

    class Meta:
        model = SyncJob

    tenant = factory.SubFactory(TenantFactory)
    source_connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant))
    xero_connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant, provider="xero"))
    operation = SyncJob.Operation.CONTACT_UPSERT
    entity = "contact"
    source_id = factory.Sequence(lambda n: str(1000 + n))
    source_version = factory.Sequence(lambda n: f"v{n}")
    idempotency_key = factory.Sequence(lambda n: f"key-{n}")
    record = factory.LazyAttribute(lambda o: {"entity": "contact", "data": {"source_id": o.source_id}})
    next_attempt_at = factory.LazyFunction(timezone.now)


class DeadLetterFactory(SyncJobFactory):
    class Meta:
        model = DeadLetter

    state = SyncJob.State.DEAD
    cause = "Gave up after 7 retries: Xero answered 503"


class AuditEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEntry

    tenant = factory.SubFactory(TenantFactory)
    entity = "contact"
    source_id = factory.Sequence(lambda n: str(n))
    operation = SyncJob.Operation.CONTACT_UPSERT
    outcome = AuditEntry.Outcome.CREATED


class InboundEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEvent

    tenant = factory.SubFactory(TenantFactory)
    connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant))
    source = InboundEvent.Source.WEBHOOK
    kind = "order"
    dedupe_key = factory.Sequence(lambda n: f"event-{n}")
    body = factory.LazyFunction(lambda: {"entity_id": 1})


class CrossReferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CrossReference

    tenant = factory.SubFactory(TenantFactory)
    source_connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant))
    entity = "contact"
    source_id = factory.Sequence(lambda n: str(n))
    xero_id = factory.Faker("uuid4")
    source_version = "v1"
    payload_hash = "h"
    synced_at = factory.LazyFunction(timezone.now)


class WriteBackFactory(factory.django.DjangoModelFactory):
    """A pending order status write-back to a Magento connection of the same tenant."""

    class Meta:
        model = WriteBack

    tenant = factory.SubFactory(TenantFactory)
    connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant))
    kind = WriteBack.Kind.ORDER_STATUS
    event = "invoice.paid"
    key = factory.Sequence(lambda n: f"invoice.paid:{n}")
    source_id = factory.Sequence(lambda n: str(100 + n))
    data = factory.LazyFunction(lambda: {"invoice_number": "INV-1", "amount": "10.00"})
    next_attempt_at = factory.LazyFunction(timezone.now)


class PartnerWebhookEndpointFactory(factory.django.DjangoModelFactory):
    """A partner (REST) connection's webhook endpoint with an encrypted signing secret."""

    class Meta:
        model = PartnerWebhookEndpoint
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant, provider="rest", credentials={}))
    url = factory.Sequence(lambda n: f"https://partner{n}.example.com/hooks")
    events = factory.LazyFunction(lambda: ["invoice.paid"])

    @factory.post_generation
    def secret(obj, create, extracted, **kwargs):
        obj.secret_ciphertext = crypto.encrypt_for(
            obj.connection, purpose=crypto.PURPOSE_PARTNER_WEBHOOK_SECRET, value=extracted or "whsec_factory"
        )
        obj.save(update_fields=["secret_ciphertext"])


# Mappings -------------------------------------------------------------------------------------------------------

from datetime import UTC, datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

from connections.canonical import LineKind, Order, OrderLine, TaxKey, to_json  # noqa: E402
from mappings import models as mapping_models  # noqa: E402


class _SourceOwned(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)
    source_connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))


class TaxMappingFactory(_SourceOwned):
    class Meta:
        model = mapping_models.TaxMapping

    tax_code = factory.Sequence(lambda n: f"TAX-{n}")
    source_percent = Decimal("10")
    xero_tax_type = "OUTPUT"


class AccountRuleFactory(_SourceOwned):
    class Meta:
        model = mapping_models.AccountRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    category = "Services"
    account_code = "200"


class PaymentAccountMappingFactory(_SourceOwned):
    class Meta:
        model = mapping_models.PaymentAccountMapping

    payment_method = factory.Sequence(lambda n: f"method{n}")
    account_code = "090"


class TrackingMappingFactory(_SourceOwned):
    class Meta:
        model = mapping_models.TrackingMapping

    source_attribute = "store"
    source_value = "1"
    xero_category = "Region"
    xero_option = "North"


class ItemMappingFactory(_SourceOwned):
    class Meta:
        model = mapping_models.ItemMapping

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    item_code = factory.Sequence(lambda n: f"ITEM-{n}")


class ContactPolicyFactory(_SourceOwned):
    class Meta:
        model = mapping_models.ContactPolicy


class SystemOfRecordFactory(_SourceOwned):
    class Meta:
        model = mapping_models.SystemOfRecord

    field_group = "contact_details"
    owner = "xero"


class PostingPolicyFactory(_SourceOwned):
    class Meta:
        model = mapping_models.PostingPolicy

    sales_account_code = "200"


class FieldTransformFactory(_SourceOwned):
    class Meta:
        model = mapping_models.FieldTransform

    source_field = "number"
    target = "invoice_reference"
    transform = "prefix"
    argument = "WEB-"


class SourceValueFactory(_SourceOwned):
    class Meta:
        model = mapping_models.SourceValue

    kind = "tax_key"
    value = factory.Sequence(lambda n: f"KEY-{n}")
    percent = Decimal("10")
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class MappingSuggestionFactory(_SourceOwned):
    class Meta:
        model = mapping_models.MappingSuggestion

    kind = "tax"
    key = factory.Sequence(lambda n: f"KEY-{n}")
    proposal = factory.LazyAttribute(
        lambda o: {"tax_code": o.key, "xero_tax_type": "OUTPUT", "rate_override": False, "source_percent": "10"}
    )
    reason = "GST on Income (OUTPUT) 10%: same effective rate (10%)."


def _sample_order(number: str) -> dict:
    when = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    line = OrderLine(
        line_id="1",
        kind=LineKind.PRODUCT,
        description="Tee",
        quantity=Decimal("2"),
        unit_price=Decimal("10.0000"),
        tax=Decimal("2.00"),
        total=Decimal("20.00"),
        tax_key=TaxKey(code="GST", percent=Decimal("10")),
        sku="TEE",
    )
    order = Order(
        source_id=number,
        number=number,
        currency="AUD",
        tax_inclusive=False,
        lines=(line,),
        subtotal=Decimal("20.00"),
        tax_total=Decimal("2.00"),
        discount_total=Decimal("0.00"),
        shipping_total=Decimal("0.00"),
        grand_total=Decimal("22.00"),
        status="processing",
        created_at=when,
        updated_at=when,
    )
    return to_json(order)


class SampleRecordFactory(_SourceOwned):
    class Meta:
        model = mapping_models.SampleRecord

    entity = "order"
    source_id = factory.Sequence(lambda n: f"1000{n}")
    label = factory.SelfAttribute("source_id")
    record = factory.LazyAttribute(lambda o: _sample_order(o.source_id))
    seen_at = factory.LazyFunction(timezone.now)


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    tenant = factory.SubFactory(TenantFactory)
    kind = Alert.Kind.FIRST_FAILURE
    subject = "A record could not be sent to Xero"
    body = "…"


# Reconciliation -------------------------------------------------------------------------------------------------

from reconciliation.models import Mismatch, ReconciliationPolicy, ReconciliationRun  # noqa: E402


class ReconciliationPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconciliationPolicy

    tenant = factory.SubFactory(TenantFactory)


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    """A finished run over March 2026 with an invoice summary; add mismatches with MismatchFactory(run=…)."""

    class Meta:
        model = ReconciliationRun

    tenant = factory.SubFactory(TenantFactory)
    xero_connection = factory.LazyAttribute(lambda o: ConnectionFactory(tenant=o.tenant, provider="xero"))
    trigger = ReconciliationRun.Trigger.MANUAL
    period_start = datetime(2026, 3, 1, tzinfo=UTC).date()
    period_end = datetime(2026, 3, 31, tzinfo=UTC).date()
    status = ReconciliationRun.Status.DONE
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)
    summary = factory.LazyFunction(
        lambda: {"invoice": {"compared": 10, "matched": 8, "source_total": "1000.00", "xero_total": "987.50"}}
    )


class MismatchFactory(factory.django.DjangoModelFactory):
    """An invoice whose amount differs by -12.50 in Xero."""

    class Meta:
        model = Mismatch

    tenant = factory.SubFactory(TenantFactory)
    run = factory.LazyAttribute(lambda o: ReconciliationRunFactory(tenant=o.tenant))
    kind = Mismatch.Kind.AMOUNT_DIFFERS
    entity = "invoice"
    source_id = factory.Sequence(lambda n: str(5000 + n))
    source_label = factory.LazyAttribute(lambda o: f"#{o.source_id}")
    xero_id = factory.Faker("uuid4")
    xero_label = factory.LazyAttribute(lambda o: f"INV-{o.source_id}")
    source_value = "110.00"
    xero_value = "97.50"
    difference = Decimal("-12.50")
    currency = "AUD"
    detail = "The invoice total in Xero is 12.50 less than the order's grand total."
    suggested_action = "Resync the order, or accept if the invoice was adjusted in Xero on purpose."


class BackfillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backfill

    tenant = factory.SubFactory(TenantFactory)
    since = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    entities = ["orders"]
    dry_run = True
