"""Contacts: uniqueness, batches with and without summarised errors, reads with filters and paging."""

from datetime import timedelta

from django.utils import timezone

from sandbox.xero.models import Contact

UNIQUE_NAME = "is already assigned to another contact. The contact name must be unique across all active contacts."


def test_contact_name_must_be_unique_among_active_contacts(org_a):
    assert org_a.put("Contacts", {"Contacts": [{"Name": "John Doe"}]}).status_code == 200
    response = org_a.put("Contacts", {"Contacts": [{"Name": "john doe"}]})
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert UNIQUE_NAME in body["Elements"][0]["ValidationErrors"][0]["Message"]


def test_names_are_unique_ignoring_case_beyond_ascii(org_a, org_b):
    assert org_a.put("Contacts", {"Contacts": [{"Name": "Émile Zoë Åberg"}]}).status_code == 200
    response = org_a.put("Contacts", {"Contacts": [{"Name": "ÉMILE ZOË ÅBERG"}]}, params={"summarizeErrors": "false"})
    assert UNIQUE_NAME in response.json()["Contacts"][0]["ValidationErrors"][0]["Message"]
    assert org_b.put("Contacts", {"Contacts": [{"Name": "émile zoë åberg"}]}).status_code == 200


def test_an_archived_contact_frees_its_name(org_a):
    first = org_a.put("Contacts", {"Contacts": [{"Name": "John Doe"}]}).json()["Contacts"][0]
    archived = org_a.post(f"Contacts/{first['ContactID']}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    assert archived.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    assert org_a.put("Contacts", {"Contacts": [{"Name": "John Doe"}]}).status_code == 200
    assert [c["Name"] for c in org_a.get("Contacts").json()["Contacts"]] == ["John Doe"]
    with_archived = org_a.get("Contacts", params={"includeArchived": "true"}).json()["Contacts"]
    assert len(with_archived) == 2


def test_contact_number_is_unique_even_against_archived_contacts(org_a):
    first = org_a.put("Contacts", {"Contacts": [{"Name": "A", "ContactNumber": "SHOP-1"}]}).json()["Contacts"][0]
    org_a.post(f"Contacts/{first['ContactID']}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    response = org_a.put("Contacts", {"Contacts": [{"Name": "B", "ContactNumber": "SHOP-1"}]})
    assert response.status_code == 400
    assert "must be unique across all contacts" in response.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_same_name_in_two_organisations_is_fine_and_invisible_to_each_other(org_a, org_b):
    assert org_a.put("Contacts", {"Contacts": [{"Name": "Shared Name", "EmailAddress": "a@x.test"}]}).status_code == 200
    assert org_b.put("Contacts", {"Contacts": [{"Name": "Shared Name", "EmailAddress": "b@x.test"}]}).status_code == 200
    assert [c["EmailAddress"] for c in org_a.get("Contacts").json()["Contacts"]] == ["a@x.test"]
    assert [c["EmailAddress"] for c in org_b.get("Contacts").json()["Contacts"]] == ["b@x.test"]
    other_id = org_b.get("Contacts").json()["Contacts"][0]["ContactID"]
    assert org_a.get(f"Contacts/{other_id}").status_code == 404


def test_summarize_errors_false_answers_200_with_per_element_status(org_a):
    org_a.put("Contacts", {"Contacts": [{"Name": "Taken"}]})
    response = org_a.put(
        "Contacts",
        {"Contacts": [{"Name": "Fresh"}, {"Name": "Taken"}, {"Name": "Also Fresh"}]},
        params={"summarizeErrors": "false"},
    )
    assert response.status_code == 200
    elements = response.json()["Contacts"]
    assert [e["StatusAttributeString"] for e in elements] == ["OK", "ERROR", "OK"]
    assert elements[0]["ContactID"] and "ContactID" not in elements[1]
    assert UNIQUE_NAME in elements[1]["ValidationErrors"][0]["Message"]
    assert Contact.objects.filter(org__tenant_id=org_a.tenant_id).count() == 3


def test_summarised_errors_answer_400_but_still_create_the_valid_elements(org_a):
    org_a.put("Contacts", {"Contacts": [{"Name": "Taken"}]})
    response = org_a.put("Contacts", {"Contacts": [{"Name": "Fresh"}, {"Name": "Taken"}]})
    assert response.status_code == 400
    body = response.json()
    assert body["Message"] == "A validation exception occurred"
    assert [e["Name"] for e in body["Elements"]] == ["Taken"]
    names = sorted(c["Name"] for c in org_a.get("Contacts").json()["Contacts"])
    assert names == ["Fresh", "Taken"]


def test_put_creates_only_and_post_updates(org_a):
    created = org_a.put("Contacts", {"Contacts": [{"Name": "Old"}]}).json()["Contacts"][0]
    refused = org_a.put("Contacts", {"Contacts": [{"ContactID": created["ContactID"], "Name": "New"}]})
    assert refused.status_code == 400
    updated = org_a.post("Contacts", {"Contacts": [{"ContactID": created["ContactID"], "Name": "New"}]})
    assert updated.status_code == 200 and updated.json()["Contacts"][0]["Name"] == "New"


def test_where_filters_used_by_a_sync(org_a):
    org_a.put(
        "Contacts",
        {
            "Contacts": [
                {"Name": "Ann", "EmailAddress": "ann@x.test", "ContactNumber": "C-1"},
                {"Name": "Bob", "EmailAddress": "bob@x.test", "ContactNumber": "C-2"},
            ]
        },
    )

    def names(where):
        return [c["Name"] for c in org_a.get("Contacts", params={"where": where}).json()["Contacts"]]

    assert names('Name=="Bob"') == ["Bob"]
    assert names('EmailAddress=="ann@x.test"') == ["Ann"]
    assert names('ContactNumber=="C-2"') == ["Bob"]
    assert names('ContactNumber=="C-1" OR ContactNumber=="C-2"') == ["Ann", "Bob"]
    assert names('Name.StartsWith("A")') == ["Ann"]
    bob_id = org_a.get("Contacts", params={"where": 'Name=="Bob"'}).json()["Contacts"][0]["ContactID"]
    assert names(f'ContactID==guid("{bob_id}")') == ["Bob"]
    assert org_a.get("Contacts", params={"where": 'Name=="unclosed'}).status_code == 400


def test_get_by_contact_number_and_ids_param(org_a):
    made = org_a.put("Contacts", {"Contacts": [{"Name": "Ann", "ContactNumber": "C-1"}, {"Name": "Bob"}]})
    ids = [c["ContactID"] for c in made.json()["Contacts"]]
    assert org_a.get("Contacts/C-1").json()["Contacts"][0]["Name"] == "Ann"
    listed = org_a.get("Contacts", params={"IDs": ids[1]}).json()["Contacts"]
    assert [c["Name"] for c in listed] == ["Bob"]


def test_paging_with_page_size_and_pagination_object(org_a):
    org_a.put("Contacts", {"Contacts": [{"Name": f"C{i:02d}"} for i in range(7)]})
    page = org_a.get("Contacts", params={"page": 2, "pageSize": 3}).json()
    assert [c["Name"] for c in page["Contacts"]] == ["C03", "C04", "C05"]
    assert page["pagination"] == {"page": 2, "pageSize": 3, "pageCount": 3, "itemCount": 7}
    last = org_a.get("Contacts", params={"page": 3, "pageSize": 3}).json()
    assert [c["Name"] for c in last["Contacts"]] == ["C06"]
    capped = org_a.get("Contacts", params={"page": 1, "pageSize": 5000}).json()
    assert capped["pagination"]["pageSize"] == 1000


def test_if_modified_since_returns_only_later_changes(org_a):
    org_a.put("Contacts", {"Contacts": [{"Name": "Old"}, {"Name": "New"}]})
    long_ago = timezone.now() - timedelta(days=2)
    Contact.objects.filter(name="Old").update(updated_at=long_ago)
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = org_a.get("Contacts", headers={"If-Modified-Since": since}).json()["Contacts"]
    assert [c["Name"] for c in listed] == ["New"]


def test_search_term_matches_case_insensitively(org_a):
    org_a.put("Contacts", {"Contacts": [{"Name": "Ann", "EmailAddress": "ann@shop.test"}, {"Name": "Bob"}]})
    listed = org_a.get("Contacts", params={"searchTerm": "SHOP"}).json()["Contacts"]
    assert [c["Name"] for c in listed] == ["Ann"]


def test_contacts_are_answered_with_their_groups(org_a, org_b, contact_id):
    group = org_a.put("ContactGroups", {"ContactGroups": [{"Name": "VIP"}]}).json()["ContactGroups"][0]
    org_a.put(f"ContactGroups/{group['ContactGroupID']}/Contacts", {"Contacts": [{"ContactID": contact_id}]})
    batch = {"Contacts": [{"ContactID": contact_id, "EmailAddress": "shop@acme.test"}, {"Name": "New Shop"}]}
    updated, created = org_a.post("Contacts", batch, params={"summarizeErrors": "false"}).json()["Contacts"]
    assert [g["Name"] for g in updated["ContactGroups"]] == ["VIP"]
    assert created["ContactGroups"] == []
    assert org_b.put("Contacts", {"Contacts": [{"Name": "Acme Shop"}]}).json()["Contacts"][0]["ContactGroups"] == []


def test_contact_groups_membership(org_a, contact_id):
    group = org_a.put("ContactGroups", {"ContactGroups": [{"Name": "VIP"}]}).json()["ContactGroups"][0]
    added = org_a.put(f"ContactGroups/{group['ContactGroupID']}/Contacts", {"Contacts": [{"ContactID": contact_id}]})
    assert added.status_code == 200
    shown = org_a.get(f"ContactGroups/{group['ContactGroupID']}").json()["ContactGroups"][0]
    assert [c["ContactID"] for c in shown["Contacts"]] == [contact_id]
