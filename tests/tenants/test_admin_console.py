import pytest
from django.core import mail

from tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_admin_foreign_key_choices_are_scoped_to_the_agency(world, client):
    client.force_login(world.owner_a)
    form = client.get("/admin/tenants/tenant/add/").context["adminform"].form
    assert set(form.fields["agency"].queryset) == {world.agency_a}
    membership = Membership.objects.get(user=world.member_a)
    form = client.get(f"/admin/tenants/membership/{membership.pk}/change/").context["adminform"].form
    assert set(form.fields["limited_to_tenants"].queryset) == {world.tenant_a1, world.tenant_a2}


def test_admin_refuses_a_forged_foreign_key_to_another_agency(world, client):
    client.force_login(world.owner_a)
    response = client.post(
        "/admin/tenants/tenant/add/",
        {
            "agency": world.agency_b.pk,
            "name": "Smuggled",
            "slug": "smuggled",
            "country": "AU",
            "base_currency": "AUD",
            "timezone": "UTC",
            "is_active": "on",
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    assert "agency" in response.context["adminform"].form.errors
    assert not world.agency_b.tenants.filter(slug="smuggled").exists()


def test_members_are_not_console_users(world, client):
    client.force_login(world.member_a)
    assert client.get("/admin/tenants/tenant/").status_code == 302  # to the admin login: not staff


def test_password_reset_sends_a_link(world, client):
    response = client.post("/accounts/password/reset/", {"email": "owner-a@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
