def test_contacts_roundtrip(org_a, org_b):
    created = org_a.put("Contacts", {"Contacts": [{"Name": "Acme", "EmailAddress": "a@acme.test"}]})
    assert created.status_code == 200, created.text
    listed = org_a.get("Contacts")
    assert [c["Name"] for c in listed.json()["Contacts"]] == ["Acme"]
    assert org_b.get("Contacts").json()["Contacts"] == []
