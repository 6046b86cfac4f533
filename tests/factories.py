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
