"""One request's unit of work on an organisation: what makes a batch of 50 cost a few dozen queries, not thousands.

Xero applies a batch element by element: each element sees what the ones before it wrote, and a refused element
leaves nothing behind. The services keep exactly those rules, but read and write through a Workspace:

- reference rows (accounts, tax rates with components, active tracking with options, currencies) are read once;
- rows a batch refers to (contacts, documents, items) are read in bulk up front (`*_load`), and any row asked for
  that was not loaded is read on demand, so a missed prefetch costs a query, never a wrong answer;
- an element changes a cached row only after `claim` (its own record) or `touch` (a row it affects) snapshotted
  it; its new rows, history and webhook events are staged. `element()` is the savepoint: on ElementInvalid the
  snapshots are restored and the stage is dropped, on success the stage joins the pending writes;
- `flush` writes the pending rows with bulk statements (services/rows.py), in foreign-key order. Claiming a row
  that an earlier element of the same unflushed segment wrote calls `on_segment_end` first (by default a flush), so
  every element is answered with its record as it stood right after that element, as when each element was saved
  on its own.

Case-insensitive names are compared with `fold`, a per-character upper-casing like the database's UPPER() (iexact).
"""

import functools
from contextlib import contextmanager
from decimal import Decimal

from django.db import connection
from django.db.models import Q, Value, prefetch_related_objects
from django.db.models.functions import Upper
from django.db.models.lookups import In

from sandbox.xero.models import (
    Account,
    Contact,
    CreditNote,
    HistoryRecord,
    Invoice,
    Item,
    LineItem,
    Organisation,
    TaxRate,
    TrackingCategory,
)
from sandbox.xero.services.lookups import Key, rows_by_key
from sandbox.xero.services.reference import Reference, reference_get
from sandbox.xero.services.rows import rows_copy, rows_insert, rows_update

NUMBER_WINDOW = 100


def fold(text: str) -> str:
    """Upper case one character at a time (ß stays ß), as PostgreSQL's UPPER() does for `iexact`.

    Not cached: it is called for every contact's name, and a cache of them (4,096) grew with the organisation's
    contacts in the process hosting the simulator. ASCII text, most names, takes str.upper() (the same answer)."""
    if text.isascii():
        return text.upper()
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in text)


def parse_pk(model, value, *, strict: bool = False):
    """The primary key `value` denotes, as the ORM would read it; None when malformed (strict: raise, as a filter)."""
    if strict:
        return model._meta.pk.to_python(value)
    try:
        return model._meta.pk.to_python(value)
    except Exception:  # noqa: BLE001 - a malformed GUID finds nothing
        return None


def related_rows(obj, name: str):
    """`obj`'s `name` rows (a reverse foreign key or many-to-many), from its prefetch cache when a prefetch or the
    workspace filled it, else read. The cache is read directly: `obj.<name>.all()` builds a related manager and a
    queryset per call, which across a batch's lines, groups and tracking options cost more than the rows."""
    cached = obj.__dict__.get("_prefetched_objects_cache", {}).get(name)
    return cached if cached is not None else list(getattr(obj, name).all())


def _by_pk(rows: list) -> list:
    """`rows` lowest primary key first, as known() returns them. The lookups by name, number and code filter with a
    comprehension rather than known()'s call per row: they run once or twice per element (or line) over every
    row the batch knows."""
    return sorted(rows, key=lambda row: row.pk) if len(rows) > 1 else rows


def _lowest(rows: list):
    return _by_pk(rows)[0] if rows else None


@functools.cache
def _fields(model) -> tuple:
    """(name, attribute) of `model`'s concrete fields but its primary key (asked for every row touched or saved)."""
    return tuple((f.name, f.attname) for f in model._meta.concrete_fields if not f.primary_key)


def _values(obj) -> dict:
    return {name: getattr(obj, attname) for name, attname in _fields(type(obj))}


class _Stage:
    """What one element did, until it is known to have succeeded."""

    def __init__(self, sequences: dict):
        self.sequences = sequences
        self.snapshots: dict[int, tuple] = {}
        self.new: list = []
        self.dirty: list = []
        self.history: list[HistoryRecord] = []
        self.events: list[dict] = []
        self.lines: dict = {}
        self.claimed: list = []


class Workspace:
    def __init__(self, org: Organisation):
        self.org = org
        self.on_segment_end = self.flush
        self.lock_documents = False  # payments read the documents they change FOR UPDATE
        self.read_lines = True  # read a document's lines with it (payments never look at them)
        # Reference data, read on first use (accounts, tax rates and currencies through services/reference.py).
        self._kept_reference: Reference | None | bool = False
        self._accounts: list[Account] | None = None
        self._accounts_by_code: dict[str, Account] | None = None
        self._effective_rates: dict[int, Decimal] = {}
        self._tax_rates: dict[str, TaxRate] | None = None
        self._tracking: list[TrackingCategory] | None = None
        self._currencies: set[str] | None = None
        # Rows of the organisation this request knows, by model and primary key; plus which keys were looked up.
        self._rows: dict[type, dict] = {Contact: {}, Invoice: {}, CreditNote: {}, Item: {}}
        self._loaded: dict[tuple, set] = {}
        self._lines: dict = {}  # document pk → its current lines (when this request replaced them)
        self._sequences: dict[str, int] = {}
        self._sequence_start: dict[str, int] = {}
        self._numbers_taken: dict[tuple, set[str]] = {}
        self._numbers_checked: dict[tuple, int] = {}
        # Pending writes (successful elements not yet flushed).
        self._new: list = []
        self._dirty: dict[tuple, object] = {}
        self._baseline: dict[int, dict] = {}  # a stored row's values when first touched since the last flush
        self._history: list[HistoryRecord] = []
        self._events: list[dict] = []
        self._webhook_apps: list | None = None
        self._pending_lines: dict = {}
        self._written: set[tuple] = set()
        self._created: set[tuple] = set()  # (model, pk) of the rows this request inserted
        self._stage: _Stage | None = None

    # Reference data ------------------------------------------------------------------------------------------

    def _reference(self) -> Reference | None:
        if self._kept_reference is False:
            self._kept_reference = reference_get(org=self.org)
        return self._kept_reference

    def accounts(self) -> list[Account]:
        if self._accounts is None:
            reference = self._reference()
            if reference is not None:
                self._accounts = reference.accounts
            else:
                self._accounts = list(Account.objects.filter(org=self.org).order_by("pk"))
        return self._accounts

    def account_by_code(self, code) -> Account | None:
        if self._accounts_by_code is None:
            self._accounts_by_code = {}
            for account in self.accounts():
                self._accounts_by_code.setdefault(account.code, account)  # lowest pk first, as the scan found it
        return self._accounts_by_code.get(str(code))

    def account_by_id(self, value) -> Account | None:
        pk = parse_pk(Account, value, strict=True)
        return next((a for a in self.accounts() if a.pk == pk), None)

    def tax_rate(self, tax_type) -> TaxRate | None:
        if self._tax_rates is None:
            reference = self._reference()
            if reference is not None:
                self._tax_rates = reference.tax_rates
            else:
                rates = TaxRate.objects.filter(org=self.org).prefetch_related("components").order_by("-pk")
                self._tax_rates = {r.tax_type: r for r in rates}  # lowest pk wins, as .first() would
        return self._tax_rates.get(str(tax_type))

    def effective_rate(self, rate: TaxRate | None) -> Decimal:
        """TaxCalc(rate).effective_rate(), once per rate: a batch's lines share a handful of rates."""
        from sandbox.xero.services.documents import TaxCalc

        if rate is None:
            return TaxCalc(None).effective_rate()
        if rate.pk not in self._effective_rates:
            self._effective_rates[rate.pk] = TaxCalc(rate).effective_rate()
        return self._effective_rates[rate.pk]

    def tracking_categories(self) -> list[TrackingCategory]:
        """The ACTIVE categories with their options, in primary key order."""
        if self._tracking is None:
            reference = self._reference()
            if reference is not None:
                self._tracking = reference.tracking
            else:
                active = TrackingCategory.objects.filter(org=self.org, status="ACTIVE").prefetch_related("options")
                self._tracking = list(active.order_by("pk"))
        return self._tracking

    def currency_codes(self) -> set[str] | frozenset[str]:
        if self._currencies is None:
            reference = self._reference()
            if reference is not None:
                self._currencies = reference.currency_codes
            else:
                self._currencies = set(self.org.currencies.values_list("code", flat=True))
        return self._currencies

    # Rows the batch refers to -------------------------------------------------------------------------------

    def _keep(self, rows) -> None:
        for row in rows:
            known = self._rows[type(row)]
            if row.pk not in known:
                known[row.pk] = row

    def _missing(self, kind: tuple, keys) -> list:
        loaded = self._loaded.setdefault(kind, set())
        wanted = [k for k in dict.fromkeys(keys) if k not in loaded]
        loaded.update(wanted)
        return wanted

    def known(self, model, where=None) -> list:
        """The rows of `model` this workspace knows (those matching `where`), lowest primary key first."""
        rows = self._rows[model].values()
        return sorted(rows if where is None else filter(where, rows), key=lambda row: row.pk)

    def contacts_load(self, *, ids=(), numbers=(), names=()) -> None:
        """Read, in one query, the contacts with these ids, contact numbers or (ACTIVE, any case) names."""
        ids = self._missing((Contact, "id"), [pk for pk in (parse_pk(Contact, v) for v in ids) if pk is not None])
        numbers = self._missing((Contact, "number"), [str(n) for n in numbers])
        names = [n for n in dict.fromkeys(str(n) for n in names) if n]
        names = [n for n in names if fold(n) in self._missing((Contact, "name"), [fold(n)])]
        if connection.vendor == "postgresql":
            keys = [
                Key("t.id = k.v", "uuid", ids),
                Key("t.contact_number = k.v", "text", numbers),
                # name__iexact, on the UPPER(name) index.
                Key("UPPER(t.name) = UPPER(k.v) AND t.status = %s", "text", names, ("ACTIVE",)),
            ]
            self._keep(rows_by_key(Contact, org_id=self.org.pk, keys=keys))
            return
        query = Q()
        if ids:
            query |= Q(id__in=ids)
        if numbers:
            query |= Q(contact_number__in=numbers)
        if names:
            query |= Q(In(Upper("name"), [Upper(Value(name)) for name in names]), status="ACTIVE")
        if query:
            self._keep(Contact.objects.filter(org=self.org).filter(query))

    def contact_by_id(self, value, *, strict: bool = False) -> Contact | None:
        pk = parse_pk(Contact, value, strict=strict)
        if pk is None:
            return None
        if pk not in self._rows[Contact]:  # a known row is the one a read by id would find
            self.contacts_load(ids=[pk])
        return self._rows[Contact].get(pk)

    def contact_by_number(self, number) -> Contact | None:
        number = str(number)
        self.contacts_load(numbers=[number])
        return _lowest([c for c in self._rows[Contact].values() if c.contact_number == number])

    def contacts_named(self, name: str, *, exclude_id=None) -> list[Contact]:
        """ACTIVE contacts whose name equals `name` ignoring case."""
        self.contacts_load(names=[name])
        key, size = fold(name), len(name)
        # fold() keeps a name's length: a name of another length is not folded to be compared (every element of a
        # batch of contacts asks, over every contact the batch knows).
        return _by_pk(
            [
                c
                for c in self._rows[Contact].values()
                if len(c.name) == size and c.status == "ACTIVE" and c.pk != exclude_id and fold(c.name) == key
            ]
        )

    def contact_number_taken(self, number: str, *, exclude_id) -> bool:
        self.contacts_load(numbers=[number])
        return any(c.contact_number == number and c.pk != exclude_id for c in self._rows[Contact].values())

    def documents_load(self, model, *, ids=(), numbers=()) -> None:
        """Read the documents with these ids or (not DELETED) numbers, with their lines, in one query (+ lines)."""
        column = "invoice_number" if model is Invoice else "credit_note_number"
        ids = self._missing((model, "id"), [pk for pk in (parse_pk(model, v) for v in ids) if pk is not None])
        numbers = self._missing((model, "number"), [str(n) for n in numbers])
        if not ids and not numbers:
            return
        # The documents' contacts come with them, in the same statement: a second one read them by id.
        if connection.vendor == "postgresql":
            keys = [
                Key("t.id = k.v", "uuid", ids),
                Key(f"t.{column} = k.v AND t.status <> %s", "text", numbers, ("DELETED",)),
            ]
            rows = rows_by_key(model, org_id=self.org.pk, keys=keys, lock=self.lock_documents, with_contact=True)
            if self.read_lines:
                prefetch_related_objects(rows, "lines")
        else:
            query = Q()
            if ids:
                query |= Q(id__in=ids)
            if numbers:
                query |= Q(**{f"{column}__in": numbers}) & ~Q(status="DELETED")
            rows = model.objects.filter(org=self.org).filter(query).select_related("contact")
            if self.read_lines:
                rows = rows.prefetch_related("lines")
            if self.lock_documents:
                rows = rows.select_for_update(of=("self",))  # the documents only, as without the join
            rows = list(rows)
        # One instance per contact: a document's contact is the one this workspace knows (kept if it knew none).
        self._keep([doc.contact for doc in rows if doc.contact is not None])
        self._missing((Contact, "id"), [doc.contact_id for doc in rows if doc.contact_id is not None])
        for doc in rows:
            if doc.pk not in self._rows[model]:
                doc._state.fields_cache["contact"] = self._rows[Contact].get(doc.contact_id)
        self._keep(rows)
        for doc in self._rows[model].values():
            contact = self._rows[Contact].get(doc.contact_id)
            if contact is not None and "contact" not in doc._state.fields_cache:
                doc._state.fields_cache["contact"] = contact

    def adopt(self, row):
        """The instance this workspace knows for `row` (kept if it knew none)."""
        self._keep([row])
        return self._rows[type(row)][row.pk]

    def document_by_id(self, model, value, *, strict: bool = False):
        pk = parse_pk(model, value, strict=strict)
        if pk is None:
            return None
        if pk not in self._rows[model]:  # a known row is the one a read by id would find
            self.documents_load(model, ids=[pk])
        return self._rows[model].get(pk)

    def documents_numbered(self, model, number, *, exclude_id=None) -> list:
        """Documents (not DELETED) carrying `number`, lowest primary key first."""
        column = "invoice_number" if model is Invoice else "credit_note_number"
        number = str(number)
        self.documents_load(model, numbers=[number])
        return _by_pk(
            [
                d
                for d in self._rows[model].values()
                if getattr(d, column) == number and d.status != "DELETED" and d.pk != exclude_id
            ]
        )

    def document_lines(self, doc) -> list[LineItem]:
        if self._stage is not None and doc.pk in self._stage.lines:
            return self._stage.lines[doc.pk][1]
        if doc.pk in self._lines:
            return self._lines[doc.pk]
        if doc._state.adding:
            return []
        return list(doc.lines.all())

    def documents_as_stored(self, docs: list) -> None:
        """Ready flushed `docs` to be answered as a fresh read would: their current lines (this request's, else
        those read with them) and, in one read per relation, payments and allocations (a document write never
        changes those)."""
        for doc in docs:
            lines = self._lines.get(doc.pk)
            if lines is None:
                lines = list(doc.lines.all())
            # Rendering iterates doc.lines.all(): the prefetch cache is what it reads.
            cache = doc.__dict__.setdefault("_prefetched_objects_cache", {})
            cache["lines"] = lines
            if (type(doc), doc.pk) in self._created:
                # Created by this request, which writes no payment or allocation: it has none to read.
                cache["payments"], cache["allocations"] = [], []
        other = "credit_note" if docs and isinstance(docs[0], Invoice) else "invoice"
        prefetch_related_objects(docs, "payments", f"allocations__{other}")

    def contacts_as_stored(self, contacts: list) -> None:
        """Ready flushed `contacts` to be answered as a fresh read would: their groups, read in one query for those
        that were stored before this request (a contact this request created belongs to no group yet: groups are
        joined through the ContactGroups endpoints)."""
        stored = []
        for contact in contacts:
            if (Contact, contact.pk) in self._created:
                contact.__dict__.setdefault("_prefetched_objects_cache", {})["groups"] = []
            else:
                stored.append(contact)
        prefetch_related_objects(stored, "groups")

    def next_number(self, *, model, prefix: str, counter: str, column: str) -> str:
        """Xero's next free INV-/CN- number: the organisation's counter moves past numbers already in use."""
        if counter not in self._sequences:
            locked = Organisation.objects.select_for_update().filter(pk=self.org.pk)
            self._sequences[counter] = self._sequence_start[counter] = locked.values_list(counter, flat=True).get()
        while True:
            self._sequences[counter] += 1
            value = self._sequences[counter]
            number = f"{prefix}{value:04d}"
            if not self._number_used(model, column, prefix, value, number):
                return number

    def _number_used(self, model, column: str, prefix: str, value: int, number: str) -> bool:
        if any(getattr(d, column) == number for d in self._rows[model].values()):
            return True
        kind = (model, column)
        if self._numbers_checked.get(kind, 0) < value:
            window = [f"{prefix}{v:04d}" for v in range(value, value + NUMBER_WINDOW)]
            taken = model.objects.filter(org=self.org, **{f"{column}__in": window}).values_list(column, flat=True)
            self._numbers_taken.setdefault(kind, set()).update(taken)
            self._numbers_checked[kind] = value + NUMBER_WINDOW - 1
        return number in self._numbers_taken.get(kind, set())

    def items_load(self, *, ids=(), codes=()) -> None:
        ids = self._missing((Item, "id"), [pk for pk in (parse_pk(Item, v) for v in ids) if pk is not None])
        codes = self._missing((Item, "code"), [str(c) for c in codes])
        query = Q()
        if ids:
            query |= Q(id__in=ids)
        if codes:
            query |= Q(code__in=codes)
        if query:
            self._keep(Item.objects.filter(org=self.org).filter(query))

    def item_by_id(self, value, *, strict: bool = False) -> Item | None:
        pk = parse_pk(Item, value, strict=strict)
        if pk is None:
            return None
        self.items_load(ids=[pk])
        return self._rows[Item].get(pk)

    def items_coded(self, code, *, exclude_id=None) -> list[Item]:
        code = str(code)
        self.items_load(codes=[code])
        return _by_pk([i for i in self._rows[Item].values() if i.code == code and i.pk != exclude_id])

    # The in-memory savepoint ---------------------------------------------------------------------------------

    @contextmanager
    def element(self):
        """One element: its changes join the pending writes only if it does not raise."""
        self._stage = _Stage(dict(self._sequences))
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        else:
            self._commit()
        finally:
            self._stage = None

    def _rollback(self) -> None:
        stage = self._stage
        for obj, data, cache, adding in stage.snapshots.values():
            obj.__dict__.clear()
            obj.__dict__.update(data)
            obj._state.fields_cache = cache
            obj._state.adding = adding
        for obj in stage.new:
            self._rows.get(type(obj), {}).pop(obj.pk, None)
        self._sequences = stage.sequences

    def _commit(self) -> None:
        stage = self._stage
        self._new.extend(stage.new)
        for obj in stage.dirty:
            if not obj._state.adding:
                self._dirty[(type(obj), obj.pk)] = obj
        self._history.extend(stage.history)
        self._events.extend(stage.events)
        for pk, (doc, lines) in stage.lines.items():
            self._pending_lines[pk] = (doc, lines)
            self._lines[pk] = lines
        self._written.update(stage.claimed)
        self._written.update((type(obj), obj.pk) for obj in stage.new if type(obj) in self._rows)

    def _snapshot(self, obj) -> None:
        if not obj._state.adding and id(obj) not in self._baseline:
            self._baseline[id(obj)] = _values(obj)
        snapshots = self._stage.snapshots
        if id(obj) not in snapshots:
            snapshots[id(obj)] = (obj, obj.__dict__.copy(), dict(obj._state.fields_cache), obj._state.adding)

    def claim(self, obj) -> None:
        """`obj` is this element's own record and is about to change."""
        if (type(obj), obj.pk) in self._written:
            self.on_segment_end()
        self._snapshot(obj)
        self._stage.claimed.append((type(obj), obj.pk))

    def touch(self, obj) -> None:
        """`obj` (not this element's record) is about to change."""
        self._snapshot(obj)

    def save(self, obj) -> None:
        """Write `obj` (new or changed) at the next flush."""
        if obj._state.adding:
            if type(obj) in self._rows:
                self._rows[type(obj)][obj.pk] = obj
            if all(o is not obj for o in self._stage.new) and all(o is not obj for o in self._new):
                self._stage.new.append(obj)
        else:
            self._stage.dirty.append(obj)

    def add(self, obj) -> None:
        """A new row that no later element looks up (a payment, a line)."""
        self._stage.new.append(obj)

    def set_lines(self, doc, lines: list[LineItem]) -> None:
        self._stage.lines[doc.pk] = (doc, lines)

    def history(self, record: HistoryRecord) -> None:
        self._stage.history.append(record)

    def webhook_apps(self) -> list:
        """The apps this request's webhook events go to, read once (sandbox.xero.services.webhooks)."""
        from sandbox.xero.services.webhooks import webhook_apps

        if self._webhook_apps is None:
            self._webhook_apps = webhook_apps(org=self.org)
        return self._webhook_apps

    def event(self, event: dict) -> None:
        self._stage.events.append(event)

    # Writing ------------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every pending row with bulk statements (parents first), then history and webhook events."""
        from sandbox.xero.services.webhooks import webhook_events_queue

        new = self._new
        created = {id(o) for o in new}
        self._created.update((type(o), o.pk) for o in new)
        for model in (Contact, Item, Invoice, CreditNote):
            rows_insert(model, [o for o in new if type(o) is model])
        self._update(list(self._dirty.values()))
        self._dirty, self._baseline = {}, {}
        replaced = [doc for doc, _ in self._pending_lines.values() if id(doc) not in created]
        for model, fk in ((Invoice, "invoice"), (CreditNote, "credit_note")):
            pks = [doc.pk for doc in replaced if type(doc) is model]
            if pks:
                LineItem.objects.filter(**{f"{fk}_id__in": pks}).delete()
        lines = []
        for doc, doc_lines in self._pending_lines.values():
            fk = "invoice" if isinstance(doc, Invoice) else "credit_note"
            for line in doc_lines:
                setattr(line, fk, doc)
                line._state.adding = True
            lines.extend(doc_lines)
        rows_insert(LineItem, lines)
        others = [o for o in new if type(o) not in (Contact, Item, Invoice, CreditNote)]
        for model in dict.fromkeys(type(o) for o in others):
            rows_insert(model, [o for o in others if type(o) is model])
        # History entries' generated keys are never read back: one COPY, without the RETURNING rows_insert needs.
        rows_copy(HistoryRecord, self._history)
        if self._events:
            webhook_events_queue(org=self.org, events=self._events, apps=self.webhook_apps())
        for counter, value in self._sequences.items():
            if value != self._sequence_start[counter]:
                Organisation.objects.filter(pk=self.org.pk).update(**{counter: value})
                self._sequence_start[counter] = value
        self._new, self._history, self._events, self._pending_lines = [], [], [], {}
        self._written = set()

    def _update(self, rows: list) -> None:
        """UPDATE only the columns that changed: one statement per model and set of columns, a plain UPDATE … WHERE
        pk IN (…) when every row gets the same values, else one UPDATE … FROM (VALUES …)."""
        groups: dict[tuple, list] = {}
        for row in rows:
            before = self._baseline.get(id(row))
            now = _values(row)
            changed = tuple(name for name, value in now.items() if before is None or before[name] != value)
            if changed:
                groups.setdefault((type(row), changed), []).append((row, now))
        for (model, changed), members in groups.items():
            values = {name: members[0][1][name] for name in changed}
            same = all(all(now[name] == values[name] for name in changed) for _, now in members[1:])
            rows_update(model, [row for row, _ in members], changed, same=same)


@contextmanager
def workspace_single(org: Organisation, ws: Workspace | None):
    """The workspace a service call uses: the caller's, or its own for one element, flushed at the end."""
    if ws is not None:
        yield ws
        return
    own = Workspace(org)
    with own.element():
        yield own
    own.flush()
