"""Sign-up, sign-in, invitations and two-factor authentication, as a person meets them in the browser."""

import re

import pytest
from django.core import mail
from django.utils.html import escape

from tenants.models import Agency, Membership, User

pytestmark = pytest.mark.django_db


def test_the_login_page_is_served(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Ledgerbridge" in response.content
    assert b'name="login"' in response.content


def test_signing_up_creates_an_agency_owned_by_the_new_user(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "founder@studio.example", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="founder@studio.example")
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert user.is_staff  # owners use the admin console
    home = client.get("/")
    assert escape(membership.agency.name).encode() in home.content


def test_an_invitation_signs_the_invitee_into_the_inviting_agency(
    world, client, api, django_capture_on_commit_callbacks
):
    api.force_login(world.owner_a)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/invitations/",
            {"email": "Bookkeeper@Example.com", "role": "member", "limited_to_tenants": [world.tenant_a2.pk]},
            format="json",
        )
    assert created.status_code == 201, created.content
    assert len(mail.outbox) == 1
    link = re.search(r"http\S+/invitations/\S+/", mail.outbox[0].body).group(0)
    path = link.split("8000", 1)[-1] if "8000" in link else "/" + link.split("/", 3)[3]

    landing = client.get(path)
    assert landing.status_code == 302 and "/accounts/signup/" in landing["Location"]
    client.post(
        "/accounts/signup/",
        {"email": "bookkeeper@example.com", "password1": "another-long-pass", "password2": "another-long-pass"},
    )
    user = User.objects.get(email="bookkeeper@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.agency == world.agency_a
    assert list(membership.limited_to_tenants.all()) == [world.tenant_a2]
    assert Agency.objects.count() == 2  # no agency of their own
    assert client.get(path).status_code == 404  # used once


def test_an_invitation_for_someone_else_is_refused(world, client, api, django_capture_on_commit_callbacks):
    api.force_login(world.owner_a)
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/invitations/", {"email": "right@example.com"}, format="json")
    path = "/" + re.search(r"http\S+?(/invitations/\S+/)", mail.outbox[0].body).group(1).lstrip("/")
    client.force_login(world.owner_b)
    client.get(path)
    assert not Membership.objects.filter(agency=world.agency_a, user=world.owner_b).exists()


def test_two_factor_setup_is_offered_to_every_user(world, client):
    client.post("/accounts/login/", {"login": "member-a@example.com", "password": "correct-horse-battery"})
    index = client.get("/accounts/2fa/")
    assert index.status_code == 200 and b"/accounts/2fa/totp/activate/" in index.content
    # Setting up a second factor asks for the password again, as it should.
    assert client.get("/accounts/2fa/totp/activate/").status_code == 302
    client.post("/accounts/reauthenticate/", {"password": "correct-horse-battery"})
    activate = client.get("/accounts/2fa/totp/activate/")
    assert activate.status_code == 200
    assert b"otpauth://" in activate.content or b"data:image/svg" in activate.content


def test_members_change_roles_but_the_last_owner_stays(world, api):
    api.force_login(world.owner_a)
    owner_membership = Membership.objects.get(user=world.owner_a)
    response = api.patch(f"/api/v1/members/{owner_membership.pk}/", {"role": "member"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "last_owner"
    member = Membership.objects.get(user=world.member_a)
    promoted = api.patch(f"/api/v1/members/{member.pk}/", {"role": "admin"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    world.member_a.refresh_from_db()
    assert world.member_a.is_staff
    assert api.delete(f"/api/v1/members/{member.pk}/").status_code == 204
    world.member_a.refresh_from_db()
    assert not world.member_a.is_staff


def test_a_member_cannot_manage_the_agency(world, api):
    api.force_login(world.member_a)
    other = Membership.objects.get(user=world.owner_a)
    assert api.patch(f"/api/v1/members/{other.pk}/", {"role": "member"}, format="json").status_code == 403
    assert api.post("/api/v1/invitations/", {"email": "x@example.com"}, format="json").status_code == 403
    assert (
        api.post("/api/v1/tenants/", {"name": "X", "country": "AU", "base_currency": "AUD"}, format="json").status_code
        == 403
    )
    assert api.patch("/api/v1/agency/", {"name": "Mine now"}, format="json").status_code == 403


def test_the_api_docs_work_offline(world, client):
    client.force_login(world.owner_a)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/tenants/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content and b"cdn." not in docs.content
