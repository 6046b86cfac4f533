"""Matching new contacts to contacts the Xero organisation already has, before creating them.

A customer seen for the first time (no cross-reference yet) may already be in Xero: entered by hand, or imported
by another tool. The tenant's contact policy (mappings ContactPolicy) says in which order to look: the external
id in AccountNumber, the email address, the name. Suppliers are also looked up by tax number (an ABN with or
without its spaces) and by the domain of their email address (a public mail domain never matches). A match is
updated instead of duplicated, and keeps the name a person gave it in Xero.

What is never reused: an archived Xero contact (a new one is created and the archived one is left alone), and a
contact another source record is already linked to (its ContactNumber is one of ours).

Lookups cost Xero calls, so they are made only when the organisation has contacts of its own: one call, answered
from the cache for a few minutes, tells whether any contact lacks our ContactNumber. A fresh organisation that
only holds what we sent needs no lookups at all.
"""

import re

from django.core.cache import cache

from connections.providers.xero import accounting
from mappings.policies import contact_match_plan
from sync.models import SyncJob

OWN_NUMBER_PREFIX = "LB"
OTHER_CONTACTS_TTL = 600
# Keep each `where` well inside URL limits (Xero answers 404 to very long URLs; research/xero.md §4).
WHERE_BUDGET = 1500
PUBLIC_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.com.au",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "bigpond.com",
        "bigpond.net.au",
        "optusnet.com.au",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
        "zoho.com",
    ]
)
# Policy step → the Xero field it compares.
FIELDS = {"account_number": "AccountNumber", "email": "EmailAddress", "name": "Name", "tax_number": "TaxNumber"}


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _is_ours(contact: dict) -> bool:
    return str(contact.get("ContactNumber") or "").startswith(OWN_NUMBER_PREFIX)


def organisation_has_other_contacts(client, xero_connection) -> bool:
    """Whether any Xero contact (archived ones too) lacks one of our ContactNumbers: then matching is worth a call."""
    key = f"sync:xero-other-contacts:{xero_connection.pk}:{xero_connection.external_account_id}"
    known = cache.get(key)
    if known is None:
        where = f'ContactNumber==null OR !ContactNumber.StartsWith("{OWN_NUMBER_PREFIX}")'
        body = accounting.parse(
            client.get(
                "Contacts",
                params={"where": where, "page": 1, "pageSize": 1, "includeArchived": "true", "summaryOnly": "true"},
            )
        )
        known = bool(body.get("Contacts"))
        cache.set(key, known, OTHER_CONTACTS_TTL)
    return known


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _tax_number_forms(value: str) -> list[str]:
    """The tax number as given, bare digits, and an ABN's printed form ("51 824 753 556")."""
    digits = _digits(value)
    forms = [value.strip(), digits]
    if len(digits) == 11:
        forms.append(f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}")
    return [f for f in dict.fromkeys(forms) if f]


def _steps(job: SyncJob, contact) -> list[tuple[str, list[str]]]:
    """(step, values to look for) in the order the policy and the contact's kind give."""
    steps = []
    for step, value in contact_match_plan(source_connection=job.source_connection, contact=contact):
        # The stored link and our own ContactNumber are handled by the drain (cross-reference, lost responses);
        # a name is only looked up after Xero refused it as taken (the drain then asks again).
        if step in ("account_number", "email") or step == "name" and job.error_code == "contact_name_taken":
            steps.append((step, [value]))
    if contact.is_supplier:
        if contact.tax_number:
            steps.append(("tax_number", _tax_number_forms(contact.tax_number)))
        domain = contact.email.rpartition("@")[2].lower()
        if domain and domain not in PUBLIC_MAIL_DOMAINS:
            steps.append(("email_domain", [domain]))
    return steps


def _condition(step: str, value: str) -> str:
    if step == "email_domain":
        return f'EmailAddress.EndsWith("@{_quote(value)}")'
    return f'{FIELDS[step]}=="{_quote(value)}"'


def _lookup(client, conditions: list[str]) -> list[dict]:
    """Contacts (archived ones too) meeting any of the conditions, a URL-sized chunk of conditions per call."""
    found, chunk, size = [], [], 0
    for condition in [*dict.fromkeys(conditions), None]:
        if condition is not None and size + len(condition) < WHERE_BUDGET:
            chunk.append(condition)
            size += len(condition) + 4
            continue
        if chunk:
            params = {"where": " OR ".join(chunk), "includeArchived": "true", "page": 1, "pageSize": 1000}
            found += accounting.parse(client.get("Contacts", params=params)).get("Contacts") or []
        chunk, size = ([condition], len(condition) + 4) if condition is not None else ([], 0)
    return found


def _matches(step: str, value: str, candidate: dict) -> bool:
    if step == "email_domain":
        return str(candidate.get("EmailAddress") or "").lower().endswith("@" + value)
    theirs = str(candidate.get(FIELDS[step]) or "")
    if step == "tax_number":
        return bool(theirs) and _digits(theirs) == _digits(value)
    return theirs.strip().lower() == value.strip().lower()


def _same_person(contact, candidate: dict) -> bool:
    """A contact found by name is the same person only when its email does not say otherwise."""
    theirs = str(candidate.get("EmailAddress") or "").strip().lower()
    return not theirs or not contact.email or theirs == contact.email.lower()


def contacts_link_existing(client, jobs: list[SyncJob], *, xero_connection) -> int:
    """Point each new contact job that matches an existing Xero contact at it (its payload updates that contact).

    The match keeps its Xero name, and its own ContactNumber when another tool set one. Returns how many matched.
    """
    matches = contacts_match(client, jobs, xero_connection=xero_connection)
    for job in jobs:
        match = matches.get(job.pk)
        if match is None:
            continue
        job.payload = {**job.payload, "ContactID": match["ContactID"]}
        job.payload.pop("Name", None)
        if match.get("ContactNumber"):
            job.payload.pop("ContactNumber", None)
    return len(matches)


def contacts_match(client, jobs: list[SyncJob], *, xero_connection) -> dict[int, dict]:
    """The existing Xero contact each new contact job should update instead of creating one, by job id.

    Only jobs about to create a contact (no ContactID in their payload) are looked at; nothing is written here.
    """
    from sync.services.drain import canonical_record

    new = [j for j in jobs if j.payload and not j.payload.get("ContactID")]
    if not new or not organisation_has_other_contacts(client, xero_connection):
        return {}
    contacts = {job.pk: canonical_record(job) for job in new}
    plans = {job.pk: _steps(job, contacts[job.pk]) for job in new}
    conditions = [_condition(step, value) for plan in plans.values() for step, values in plan for value in values]
    if not conditions:
        return {}
    candidates = [c for c in _lookup(client, conditions) if not _is_ours(c)]
    chosen: dict[int, dict] = {}
    taken: set[str] = set()
    for job in new:
        match = None
        for step, values in plans[job.pk]:
            for candidate in candidates:
                if candidate["ContactID"] in taken or candidate.get("ContactStatus") == "ARCHIVED":
                    continue  # an archived contact is not silently brought back; one Xero contact per record
                if any(_matches(step, value, candidate) for value in values) and (
                    step != "name" or _same_person(contacts[job.pk], candidate)
                ):
                    match = candidate
                    break
            if match is not None:
                break
        if match is not None:
            taken.add(match["ContactID"])
            chosen[job.pk] = match
    return chosen
