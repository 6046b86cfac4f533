"""Reads for reconciliation runs and their mismatches. Every function needs the tenant's scope."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F
from django.db.models.functions import Abs

from core.errors import ApplicationError, NotFoundError
from core.money import quantize
from reconciliation.models import Mismatch, ReconciliationPolicy, ReconciliationRun
from tenants.models import Tenant

# The Xero-side entities a run compares, in the order people read them.
ENTITIES = ("contact", "invoice", "payment", "credit_note", "item")
ENTITY_LABELS = {
    "contact": "Contacts",
    "invoice": "Invoices",
    "payment": "Payments",
    "credit_note": "Credit notes",
    "item": "Items",
}
# ?sort= values; the size of an amount difference sorts regardless of its sign, missing amounts last.
MISMATCH_SORTS = {
    "kind": ("kind", "id"),
    "-kind": ("-kind", "-id"),
    "difference": (Abs(F("difference")).asc(nulls_last=True), "id"),
    "-difference": (Abs(F("difference")).desc(nulls_last=True), "id"),
    "source_label": ("source_label", "id"),
    "-source_label": ("-source_label", "-id"),
}


def run_list(*, tenant: Tenant):
    """The tenant's runs, newest first."""
    return ReconciliationRun.objects.filter(tenant=tenant).order_by("-started_at", "-id")


def run_get(*, tenant: Tenant, id) -> ReconciliationRun:
    """One run of the tenant; another tenant's run is a 404, exactly like a missing one."""
    try:
        return ReconciliationRun.objects.get(tenant=tenant, pk=int(id))
    except (ReconciliationRun.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFoundError("Reconciliation run not found.") from exc


def policy_get(*, tenant: Tenant) -> ReconciliationPolicy:
    """The tenant's policy, or the defaults (unsaved) when none was configured."""
    return ReconciliationPolicy.objects.filter(tenant=tenant).first() or ReconciliationPolicy(tenant=tenant)


def _invalid(name: str, value: str, allowed) -> ApplicationError:
    return ApplicationError(
        f"{name}: '{value}' is not one of {', '.join(allowed)}.",
        code="invalid",
        extra={"fields": {name: [f"Use one of: {', '.join(allowed)}."]}},
    )


def mismatch_list(*, run: ReconciliationRun, kind=None, entity=None, state=None, sort=None):
    """A run's mismatches, filtered by kind, entity and state and sorted by one of MISMATCH_SORTS.

    Unknown filter or sort values are refused (ApplicationError "invalid"), never silently ignored.
    """
    mismatches = Mismatch.objects.filter(tenant_id=run.tenant_id, run=run)
    for name, value, allowed in (
        ("kind", kind, Mismatch.Kind.values),
        ("entity", entity, ENTITIES),
        ("state", state, Mismatch.State.values),
    ):
        if value:
            if value not in allowed:
                raise _invalid(name, value, allowed)
            mismatches = mismatches.filter(**{name: value})
    if sort and sort not in MISMATCH_SORTS:
        raise _invalid("sort", sort, MISMATCH_SORTS)
    return mismatches.order_by(*MISMATCH_SORTS[sort or "kind"])


@dataclass
class EntityLine:
    entity: str
    label: str
    compared: int = 0
    matched: int = 0
    mismatches: int = 0
    source_total: Decimal | None = None
    xero_total: Decimal | None = None

    @property
    def total_difference(self) -> Decimal | None:
        """Xero minus the source, like a mismatch's difference."""
        if self.source_total is None or self.xero_total is None:
            return None
        return self.xero_total - self.source_total


@dataclass
class KindLine:
    kind: str
    label: str
    count: int
    informational: bool


@dataclass
class RunReport:
    """What a run found, as people read it: counts per class and per entity, both sides' totals."""

    kinds: list[KindLine] = field(default_factory=list)
    entities: list[EntityLine] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    total: int = 0
    # Mismatches still open that are not informational: what someone has to look at.
    needs_action: int = 0


def _amount(value) -> Decimal | None:
    return None if value in (None, "") else quantize(value)


def run_report(*, run: ReconciliationRun) -> RunReport:
    """Counts per mismatch class, per entity (with the run's per-side totals) and per state."""
    report = RunReport()
    rows = Mismatch.objects.filter(tenant_id=run.tenant_id, run=run)
    labels = dict(Mismatch.Kind.choices)
    for row in rows.values("kind").annotate(n=Count("id")).order_by("-n", "kind"):
        report.kinds.append(
            KindLine(row["kind"], labels.get(row["kind"], row["kind"]), row["n"], row["kind"] in Mismatch.INFORMATIONAL)
        )
        report.total += row["n"]
    report.states = {row["state"]: row["n"] for row in rows.values("state").annotate(n=Count("id")).order_by()}
    report.needs_action = (
        rows.filter(state=Mismatch.State.OPEN).exclude(kind__in=Mismatch.INFORMATIONAL).count() if report.total else 0
    )
    by_entity = {row["entity"]: row["n"] for row in rows.values("entity").annotate(n=Count("id")).order_by()}
    summary = run.summary or {}
    names = [e for e in ENTITIES if e in summary or e in by_entity]
    names += sorted((set(summary) | set(by_entity)) - set(names))
    for name in names:
        side = summary.get(name) or {}
        report.entities.append(
            EntityLine(
                entity=name,
                label=ENTITY_LABELS.get(name, name),
                compared=int(side.get("compared") or 0),
                matched=int(side.get("matched") or 0),
                mismatches=by_entity.get(name, 0),
                source_total=_amount(side.get("source_total")),
                xero_total=_amount(side.get("xero_total")),
            )
        )
    return report
