"""How a run is handed to people outside the page: the CSV download and the chart of mismatches across runs."""

import csv
from collections.abc import Iterator
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.money import CENT
from reconciliation.models import Mismatch, ReconciliationRun
from tenants.scoping import tenant_scope

CSV_COLUMNS = (
    ("kind", "kind"),
    ("kind_label", "class"),
    ("entity", "entity"),
    ("state", "state"),
    ("source_id", "source_id"),
    ("source_label", "source_label"),
    ("xero_id", "xero_id"),
    ("xero_label", "xero_label"),
    ("source_value", "source_value"),
    ("xero_value", "xero_value"),
    ("difference", "difference"),
    ("currency", "currency"),
    ("detail", "detail"),
    ("suggested_action", "suggested_action"),
    ("note", "note"),
)
CSV_CHUNK = 2000
# A spreadsheet runs a cell starting with one of these as a formula; names and notes come from outside.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def plain_amount(value: Decimal | None) -> str:
    """ "-12.50": no currency symbol, no thousands separator, cents always shown, more places only when present."""
    if value is None:
        return ""
    cents = value.quantize(CENT)
    return format(cents if cents == value else value.normalize(), "f")


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


class _Echo:
    """csv.writer writes into this and gets the line back, so rows are streamed, never collected."""

    def write(self, value):
        return value


def _chunks(run: ReconciliationRun):
    """The run's mismatches in id order, a chunk at a time. The response streams after its view has returned, so
    each chunk is read in a tenant scope of its own, never held open across a yield."""
    last_id = 0
    while True:
        with tenant_scope(run.tenant_id):
            chunk = list(
                Mismatch.objects.filter(tenant_id=run.tenant_id, run_id=run.pk, id__gt=last_id).order_by("id")[
                    :CSV_CHUNK
                ]
            )
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1].pk


def mismatches_csv(*, run: ReconciliationRun) -> Iterator[str]:
    """The run's mismatches as CSV lines: a header, then one line per mismatch, read from the database in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow([header for _, header in CSV_COLUMNS])
    labels = dict(Mismatch.Kind.choices)
    for chunk in _chunks(run):
        for mismatch in chunk:
            values = []
            for name, _ in CSV_COLUMNS:
                if name == "difference":
                    values.append(plain_amount(mismatch.difference))
                elif name == "kind_label":
                    values.append(labels.get(mismatch.kind, mismatch.kind))
                else:
                    values.append(_cell(getattr(mismatch, name)))
            yield writer.writerow(values)


def csv_response(run: ReconciliationRun) -> StreamingHttpResponse:
    """The run's mismatches as a streamed CSV download (the API and the report page both answer with this)."""
    response = StreamingHttpResponse(mismatches_csv(run=run), content_type="text/csv; charset=utf-8")
    name = f"reconciliation-{run.period_start.isoformat()}-{run.period_end.isoformat()}-run{run.pk}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


CHART_WIDTH, CHART_HEIGHT, CHART_GUTTER = 640, 160, 24


def mismatch_chart_svg(*, runs: list[ReconciliationRun]) -> SafeString:
    """A bar per run (oldest left) of its mismatch count, as inline SVG: no script, no external file."""
    if not runs:
        return SafeString("")
    peak = max(run.mismatch_count for run in runs) or 1
    slot = CHART_WIDTH / len(runs)
    bar_width = max(min(slot * 0.7, 48), 2)
    plot_height = CHART_HEIGHT - CHART_GUTTER
    # About ten date labels at most, so they never overlap.
    label_every = -(-len(runs) // 10)
    bars = []
    for index, run in enumerate(runs):
        height = round(plot_height * run.mismatch_count / peak, 1)
        x = round(index * slot + (slot - bar_width) / 2, 1)
        style = "bad" if run.status == ReconciliationRun.Status.FAILED else ("warn" if run.mismatch_count else "ok")
        title = f"{run.started_at:%d %b %Y %H:%M} UTC, {run.period_start}–{run.period_end}: " + (
            "failed" if style == "bad" else f"{run.mismatch_count} mismatch{'es' if run.mismatch_count != 1 else ''}"
        )
        bars.append(
            (
                x,
                round(plot_height - height, 1),
                round(bar_width, 1),
                max(height, 1),
                style,
                title,
                round(x + bar_width / 2, 1),
                CHART_HEIGHT - 6,
                f"{run.started_at:%d %b}" if index % label_every == 0 else "",
            )
        )
    body = format_html_join(
        "",
        '<g><title>{5}</title><rect class="bar {4}" x="{0}" y="{1}" width="{2}" height="{3}"></rect>'
        '<text x="{6}" y="{7}" text-anchor="middle">{8}</text></g>',
        bars,
    )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" width="100%" aria-label="{}">'
        '<text x="0" y="12" class="axis">{}</text>{}</svg>',
        CHART_WIDTH,
        CHART_HEIGHT,
        f"Mismatches in the last {len(runs)} runs",
        peak,
        body,
    )
