"""Contacts from Xero to Magento end to end: the initial import limited to a contact group, webhook updates, matching
by email and phone, name splitting, and no ping-pong between the two; two tenants throughout."""

import json

import pytest

from mappings.models import ContactPolicy
from sandbox.partner.services import partner_deliveries
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services.drain import drain_run
from sync.services.partner_webhooks import partner_webhook_endpoint_set
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from sync.services.write_backs import write_backs_run
from sync.services.xero_contacts import xero_contact_events_handle, xero_contacts_import
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.back_helpers import TRANSPORT, shop

pytestmark = pytest.mark.django_db
HOBART = {"PostalCode": "7000", "Country": "AU"}


@pytest.fixture
def shops(world):
    return shop(world.tenant_a1, code="backa"), shop(world.tenant_b1, code="backb", seed=9)


def _import(s):
    with tenant_scope(s.tenant):
        return xero_contacts_import(xero_connection=s.xero, transport=TRANSPORT)


def _webhooks(s, settings):
    events = s.deliver_xero_webhooks(settings)
    with tenant_scope(s.tenant):
        counts = xero_contact_events_handle(
            xero_connection=s.xero, events=[e for e in events if e["eventCategory"] == "CONTACT"], transport=TRANSPORT
        )
        # The inbox's own processing of the same events (Xero's dispatch) finds them already applied.
        assert inbound_events_process_pending(connection=s.xero, transport=TRANSPORT).get("failed", 0) == 0
    return counts


def _by_email(s) -> dict[str, dict]:
    return {c["email"]: c for c in s.customers().values()}


def test_the_initial_import_brings_the_chosen_group_only_with_names_split(shops):
    mine, other = shops
    mine.policy(contacts_from_xero=True, import_contact_groups=["Wholesale"])
    other.policy(contacts_from_xero=False)
    jane = mine.xero_contact_save(Name="Jane Quinn", FirstName="Jane", LastName="Quinn", EmailAddress="jane@trade.test")
    mary = mine.xero_contact_save(Name="Mary Anne Smith", EmailAddress="mary@trade.test")
    mine.xero_contact_save(Name="Retail Rob", EmailAddress="rob@retail.test")
    mine.xero_group("Wholesale", [jane["ContactID"], mary["ContactID"]])
    other_xero = other.xero_contact_save(Name="Other Tenant", EmailAddress="x@other.test")
    other.xero_group("Wholesale", [other_xero["ContactID"]])
    before_mine, before_other = len(mine.customers()), other.customers()

    counts = _import(mine)

    customers = _by_email(mine)
    assert counts["created"] == 2 and len(mine.customers()) == before_mine + 2
    assert (customers["jane@trade.test"]["firstname"], customers["jane@trade.test"]["lastname"]) == ("Jane", "Quinn")
    # Only a Name in Xero: Magento needs first and last, split at the last word.
    mary_names = (customers["mary@trade.test"]["firstname"], customers["mary@trade.test"]["lastname"])
    assert mary_names == ("Mary Anne", "Smith")
    assert "rob@retail.test" not in customers
    with tenant_scope(mine.tenant):
        links = dict(CrossReference.objects.filter(entity="contact").values_list("xero_id", "source_id"))
        assert links == {
            jane["ContactID"]: str(customers["jane@trade.test"]["id"]),
            mary["ContactID"]: str(customers["mary@trade.test"]["id"]),
        }
        assert AuditEntry.objects.filter(operation="contact.to_source", outcome="created").count() == 2
    # Importing again finds nothing new to write.
    assert _import(mine)["unchanged"] == 2 and len(mine.customers()) == before_mine + 2
    # The other tenant takes no Xero contacts: its store is untouched, and it sees none of this.
    assert _import(other) == dict.fromkeys(counts, 0)
    assert other.customers() == before_other
    with tenant_scope(other.tenant):
        assert not CrossReference.objects.exists() and not AuditEntry.objects.exists()


def test_a_change_in_xero_reaches_magento_through_the_webhook(shops, settings):
    mine, other = shops
    for s in shops:
        s.policy(contacts_from_xero=True)
        s.xero_webhooks_on(settings)
    jane = mine.xero_contact_save(Name="Jane Quinn", FirstName="Jane", LastName="Quinn", EmailAddress="jane@trade.test")
    theirs = other.xero_contact_save(Name="Their Jane", EmailAddress="jane@trade.test")
    _import(mine), _import(other)
    assert _webhooks(mine, settings)["unchanged"] == 1  # the creation, already imported
    customer_id = _by_email(mine)["jane@trade.test"]["id"]

    mine.xero_contact_save(
        ContactID=jane["ContactID"],
        LastName="Quinn-Baker",
        EmailAddress="jane.qb@trade.test",
        Phones=[{"PhoneType": "DEFAULT", "PhoneNumber": "0400 111 222"}],
        Addresses=[{"AddressType": "POBOX", "AddressLine1": "1 Pier St", "City": "Hobart", **HOBART}],
    )
    counts = _webhooks(mine, settings)

    customer = mine.customers()[customer_id]
    assert counts["updated"] == 1
    assert (customer["lastname"], customer["email"]) == ("Quinn-Baker", "jane.qb@trade.test")
    billing = customer["addresses"][0]
    assert (billing["street"], billing["city"], billing["telephone"]) == (["1 Pier St"], "Hobart", "0400 111 222")
    # The other tenant's customer, with the same email in its own store, is untouched.
    assert _by_email(other)["jane@trade.test"]["lastname"] == "Jane"
    assert theirs["ContactID"] != jane["ContactID"]


def test_a_contact_matching_a_customer_by_email_or_phone_updates_it(shops):
    mine, other = shops
    mine.policy(contacts_from_xero=True)
    other.policy(contacts_from_xero=True)
    existing = list(mine.customers().values())
    by_email, by_phone = existing[0], existing[1]
    phone = by_phone["addresses"][0]["telephone"]
    mine.xero_contact_save(Name="Renamed In Xero", EmailAddress=by_email["email"].upper())
    phones = [{"PhoneType": "DEFAULT", "PhoneNumber": phone}]
    mine.xero_contact_save(Name="Phone Match", EmailAddress="new.address@trade.test", Phones=phones)
    other_before = other.customers()

    counts = _import(mine)

    after = mine.customers()
    assert len(after) == len(existing) and counts["created"] == 0 and counts["updated"] == 2
    assert (after[by_email["id"]]["firstname"], after[by_email["id"]]["lastname"]) == ("Renamed In", "Xero")
    assert after[by_phone["id"]]["email"] == "new.address@trade.test"
    with tenant_scope(mine.tenant):
        assert AuditEntry.objects.filter(operation="contact.to_source", outcome="matched").count() == 2
        assert set(CrossReference.objects.values_list("source_id", flat=True)) == {
            str(by_email["id"]),
            str(by_phone["id"]),
        }
    assert _import(other)["created"] == 0 and other.customers() == other_before


def test_no_ping_pong_between_magento_and_xero(shops, settings):
    mine, other = shops
    for s in shops:
        s.policy(contacts_from_xero=True)
        s.xero_webhooks_on(settings)
    with tenant_scope(mine.tenant):
        # Magento's customers reach Xero through the engine; Xero then announces the contacts we created.
        source_poll(connection=mine.magento, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        report = drain_run(xero_connection=mine.xero, transport=TRANSPORT)
    assert report.done == len(mine.customers())
    before = mine.customers()

    counts = _webhooks(mine, settings)

    # Our own writes come back as webhooks: nothing is written to Magento.
    assert counts["unchanged"] == len(before) and counts["updated"] == counts["created"] == 0
    assert mine.customers() == before
    with tenant_scope(mine.tenant):
        assert not AuditEntry.objects.filter(operation="contact.to_source").exists()
        # And polling Magento again sends nothing back to Xero.
        source_poll(connection=mine.magento, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        assert not SyncJob.objects.filter(state="pending").exists()

    # A real change in Xero goes to Magento once, and does not come back to Xero as a change.
    customer = next(iter(before.values()))
    with tenant_scope(mine.tenant):
        xero_id = CrossReference.objects.get(entity="contact", source_id=str(customer["id"])).xero_id
    mine.xero_contact_save(ContactID=xero_id, FirstName="Changed", LastName="InXero")
    assert _webhooks(mine, settings)["updated"] == 1
    assert mine.customers()[customer["id"]]["firstname"] == "Changed"
    with tenant_scope(mine.tenant):
        source_poll(connection=mine.magento, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        assert not SyncJob.objects.filter(state="pending").exists()
    assert _webhooks(mine, settings)["updated"] == 0
    with tenant_scope(other.tenant):
        assert not SyncJob.objects.exists()


def _partner(tenant, receiver: str, groups: list[str]):
    """A partner system (REST) that takes Xero contacts from some groups, with a webhook endpoint for them."""
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="rest", display_name=f"CRM {receiver}", credentials={})
        partner_webhook_endpoint_set(
            connection=connection, url=f"http://testserver/sandbox/partner/{receiver}/hooks", events=["contact.updated"]
        )
        ContactPolicy.objects.create(
            tenant=tenant, source_connection=connection, contacts_from_xero=True, import_contact_groups=groups
        )
    return connection


def _partner_events(tenant, connection, receiver: str) -> list[dict]:
    with tenant_scope(tenant):
        write_backs_run(connection=connection, transport=TRANSPORT)
    return [json.loads(bytes(d.body)) for d in partner_deliveries(name=receiver)]


def test_a_partner_system_gets_contact_updated_once_per_change_from_its_groups(shops, settings):
    mine, other = shops
    for s in shops:
        s.xero_webhooks_on(settings)
    partner = _partner(mine.tenant, "crm-mine", ["Partners"])
    other_partner = _partner(other.tenant, "crm-other", [])
    ann = mine.xero_contact_save(Name="Ann Lee", FirstName="Ann", LastName="Lee", EmailAddress="ann@partner.test")
    mine.xero_contact_save(Name="Not Shared", EmailAddress="no@partner.test")
    mine.xero_group("Partners", [ann["ContactID"]])

    assert _import(mine)["emitted"] == 1
    (first,) = _partner_events(mine.tenant, partner, "crm-mine")
    assert first["event"] == "contact.updated"
    assert (first["data"]["id"], first["data"]["email"]) == (ann["ContactID"], "ann@partner.test")
    assert (first["data"]["first_name"], first["data"]["last_name"], first["data"]["groups"]) == (
        "Ann",
        "Lee",
        ["Partners"],
    )

    mine.xero_contact_save(ContactID=ann["ContactID"], EmailAddress="ann.lee@partner.test")
    _webhooks(mine, settings)
    events = _partner_events(mine.tenant, partner, "crm-mine")
    assert [e["data"]["email"] for e in events] == ["ann@partner.test", "ann.lee@partner.test"]
    # The same version announced again (a redelivery, a webhook for a field partners do not get) sends nothing.
    _import(mine)
    assert len(_partner_events(mine.tenant, partner, "crm-mine")) == 2
    # The other tenant's partner takes every contact, but only of its own tenant: it has none.
    assert _partner_events(other.tenant, other_partner, "crm-other") == []
