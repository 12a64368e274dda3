"""Run report: one self-contained HTML page per run, warehouse/_reports/run-<id>.html (not a stage).

In: the run's `runs` row (or `_runs/<id>/summary.json` for a run that published nothing) and the published
tables at the versions the run lists. Out: the page, with inline SVG charts drawn by matplotlib (no script, no
network): records through the stages, lines strip_boilerplate removed by reason code (from the run's stage
stats), duplicates by kind, languages, doc types, projects by region and budget (projects that state no budget
are labelled "no budget", never summed as 0), quarantine reasons. Counts from the
tables are as of the run, split into "this run" and "earlier runs". A run that found nothing new (a no-op run)
says so in a banner and in its empty panels.
"""

from __future__ import annotations

import html
import io
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from handoff.versions import complete_runs
from schemas import DOCUMENTS, DUPLICATES, PROJECTS, QUARANTINE, RUNS, reasons
from schemas.runs import STAGES
from tasks._warehouse import read_current, run_summaries, summary_path

REPORTS_DIR = "_reports"
NOTHING_NEW = "nothing new in this run"
_NEWS = ("n_new", "n_updated", "n_duplicates", "n_quarantined", "n_restripped")  # counts of a run that found news
THIS_RUN, EARLIER = "#2b6cb0", "#a0aec0"
MAX_BARS = 12
BAR_HEIGHT = 0.6

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;margin:0;background:#f5f7fa;
color:#1a202c}
header{background:#1a365d;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;opacity:.85}
main{max-width:1220px;margin:0 auto;padding:20px}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-bottom:20px}
.kpi{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi b{display:block;font-size:26px}.kpi span{color:#4a5568;font-size:13px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card.wide{grid-column:1/3}.card h2{font-size:16px;margin:4px 0 8px}.card svg{width:100%;height:auto}
.legend{font-weight:normal;font-size:12px;color:#4a5568;margin-left:8px}
.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px}
.empty{color:#718096;font-style:italic;padding:24px 0}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #e2e8f0;text-align:left}
.failed{background:#fff5f5;border-left:4px solid #c53030;padding:8px 12px;margin-bottom:16px}
.noop{background:#f0fff4;border-left:4px solid #38a169;padding:8px 12px;margin-bottom:16px}
"""


def report_path(warehouse: Path, run_id: str) -> Path:
    return Path(warehouse) / REPORTS_DIR / f"run-{run_id}.html"


def _run_row(warehouse: Path, run_id: str) -> dict[str, Any]:
    for row in read_current(warehouse, RUNS).to_pylist():
        if row["run_id"] == run_id:
            return row
    summary = summary_path(warehouse, run_id)
    if summary.exists():
        return json.loads(summary.read_text())
    raise KeyError(f"run {run_id!r} is neither in the runs table nor in {summary.parent}")


def latest_run_id(warehouse: Path) -> str | None:
    """The run that finished last: in the `runs` table, or a no-op run known only by its summary.json."""
    finished = {
        r["run_id"]: r["finished_at"] for r in read_current(warehouse, RUNS, ["run_id", "finished_at"]).to_pylist()
    }
    for summary in run_summaries(warehouse):
        row = json.loads(summary.read_text())
        finished.setdefault(row["run_id"], datetime.fromisoformat(row["finished_at"]))
    return max(finished, key=lambda run_id: (finished[run_id], run_id)) if finished else None


def is_nothing_new(row: dict[str, Any]) -> bool:
    """A succeeded run that found no new, changed, duplicate or rejected record (a no-op run, or one whose files
    held only records already published)."""
    return row.get("status") == "succeeded" and not any(row.get(k) for k in _NEWS)


def _table_at(warehouse: Path, table, versions: dict[str, int], columns: Sequence[str]) -> pa.Table:
    """`columns` of `table` as of the run (none when the run lists no version of it)."""
    version = versions.get(table.name)
    if version is None:
        return table.empty().select(list(columns))
    return read_current(warehouse, table, columns, version)


def warm_up() -> None:
    """Load what drawing a first chart loads (matplotlib's SVG backend, fonts: ~0.3 s after its import), so a run
    can do it while its process waits on a stage (flows/ledger.py `RunLedger.warm_report`)."""
    fig = Figure(figsize=(1, 1))
    fig.subplots().barh(["a"], [1])
    _svg(fig)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(n_bars: int, wide: bool = False) -> tuple[Figure, Any]:
    fig = Figure(figsize=(11 if wide else 5.6, 0.32 * n_bars + 0.8))
    ax = fig.subplots()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=9)
    return fig, ax


def _split_bars(
    counts_now: Counter, counts_run: Counter, xlabel: str = "rows", wide: bool = False, empty: str = "none"
) -> str:
    """Horizontal stacked bars: this run's rows and earlier runs' rows per category (largest first)."""
    top = [k for k, _ in counts_now.most_common(MAX_BARS)]
    if not top:
        return f'<p class="empty">{html.escape(empty)}</p>'
    labels = [str(k) if k is not None else "(none)" for k in reversed(top)]
    this = [counts_run.get(k, 0) for k in reversed(top)]
    earlier = [counts_now[k] - counts_run.get(k, 0) for k in reversed(top)]
    fig, ax = _figure(len(top), wide)
    ax.barh(labels, earlier, color=EARLIER, height=BAR_HEIGHT)
    ax.barh(labels, this, left=earlier, color=THIS_RUN, height=BAR_HEIGHT)
    for y, (a, b) in enumerate(zip(earlier, this, strict=True)):
        ax.text(a + b, y, f" {a + b:,}", va="center", fontsize=9)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.15)
    return _svg(fig)


def _funnel(stats: dict[str, dict], empty: str = "no stage statistics") -> str:
    """Records entering the pipeline and left after each stage, with what each stage set aside."""
    steps: list[tuple[str, int, str]] = []
    ingest = stats.get("ingest", {})
    if "in" in ingest:
        steps.append(("read", int(ingest["in"]), ""))
    for stage in STAGES:
        s = stats.get(stage, {})
        if "kept" not in s:
            continue
        aside = []
        for key, label in (("quarantined", "quarantined"), ("duplicates", "duplicates"), ("unchanged", "unchanged")):
            if s.get(key):
                aside.append(f"{label} {s[key]:,}")
        steps.append((stage if stage != "publish" else "published", int(s["kept"]), ", ".join(aside)))
    if not any(v for _, v, _ in steps):
        return f'<p class="empty">{html.escape(empty)}</p>'
    fig, ax = _figure(len(steps), wide=True)
    labels = [name for name, _, _ in reversed(steps)]
    values = [v for _, v, _ in reversed(steps)]
    peak = max(values) or 1
    ax.barh(labels, values, color=THIS_RUN, left=[(peak - v) / 2 for v in values], height=0.75)
    for y, (_, v, aside) in enumerate(reversed(steps)):
        ax.text(peak / 2, y, f"{v:,}", va="center", ha="center", color="white", fontsize=10, fontweight="bold")
        if aside:
            ax.text(peak * 1.02, y, aside, va="center", fontsize=9, color="#c53030")
    ax.set_xlim(0, peak * 1.45)
    ax.set_xticks([])
    ax.spines[["bottom"]].set_visible(False)
    return _svg(fig)


# What each removed-line reason code of strip_boilerplate means (the codes: schemas/reasons.py).
_REMOVED_LINE_MEANING = {
    reasons.BOILERPLATE_REPEATED: "frequent on the sampled pages of the site or its registered domain",
    reasons.BOILERPLATE_KNOWN_TEMPLATE: "template line learned on another site (known everywhere)",
    reasons.BOILERPLATE_NAV_SHAPE: "navigation-shaped line of the leading/trailing navigation block",
    reasons.BOILERPLATE_RUN_GAP: "letter-free or short line inside a template run",
}


def _removed_lines(stats: dict[str, dict], empty: str = "no line removed") -> str:
    """Lines strip_boilerplate removed in this run, by reason code: bars, and a table with each code's meaning."""
    strip = stats.get("strip_boilerplate", {})
    counts = Counter({code: int(strip.get(code) or 0) for code in reasons.REMOVED_LINE_REASONS})
    total = sum(counts.values())
    if not total:
        return f'<p class="empty">{html.escape(empty)}</p>'
    chart = _split_bars(+counts, +counts, xlabel="lines removed", wide=True)
    rows = "".join(
        f"<tr><td><code>{html.escape(code)}</code></td><td>{counts[code]:,}</td>"
        f"<td>{counts[code] / total:.1%}</td><td>{html.escape(_REMOVED_LINE_MEANING.get(code, ''))}</td></tr>"
        for code in reasons.REMOVED_LINE_REASONS
    )
    head = "<tr><th>reason</th><th>lines</th><th>share</th><th>meaning</th></tr>"
    return f'{chart}<table class="reasons">{head}{rows}</table>'


def _projects_chart(projects: list[dict], empty: str = "no projects") -> str:
    """Projects per IDF region: count (bars) and total budget in USD of those that state one (bars on the right);
    a project without a budget adds nothing to the total and is labelled "no budget", never plotted as 0."""
    if not projects:
        return f'<p class="empty">{html.escape(empty)}</p>'
    count: Counter = Counter()
    budget: Counter = Counter()
    unbudgeted: Counter = Counter()
    for p in projects:
        region = p["idf_region"] or "(unknown)"
        count[region] += 1
        if p["budget_usd"] is None:
            unbudgeted[region] += 1
        else:
            budget[region] += p["budget_usd"]
    regions = [r for r, _ in count.most_common(MAX_BARS)][::-1]
    fig = Figure(figsize=(11, 0.32 * len(regions) + 0.8))
    left, right = fig.subplots(1, 2, sharey=True)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=9)
        ax.margins(x=0.2)
    left.barh(regions, [count[r] for r in regions], color=THIS_RUN, height=BAR_HEIGHT)
    left.set_xlabel("projects", fontsize=9)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.barh(regions, [budget[r] / 1e6 for r in regions], color="#38a169", height=BAR_HEIGHT)
    right.set_xlabel("budget, million USD (projects that state one)", fontsize=9)
    for y, r in enumerate(regions):
        left.text(count[r], y, f" {count[r]}", va="center", fontsize=9)
        none = unbudgeted[r] == count[r]
        label = f" {_budget_label(count[r], unbudgeted[r], budget[r])}"
        right.text(budget[r] / 1e6, y, label, va="center", fontsize=9, color=EARLIER if none else "black")
    if not budget:
        right.set_xticks([])
    return _svg(fig)


def _budget_label(n_projects: int, n_unbudgeted: int, total_usd: float) -> str:
    """ "no budget" when no project of the region states one; else the total, and how many do not state one."""
    if n_unbudgeted == n_projects:
        return "no budget"
    label = f"{total_usd / 1e6:,.2f}"
    return f"{label} ({n_unbudgeted} without budget)" if n_unbudgeted else label


def _counts(rows: pa.Table, column: str, run_id: str) -> tuple[Counter, Counter]:
    """Rows by value of `column` (nulls too, first seen first): all of them, and this run's. Counted by Arrow: 1M
    documents as Python rows took ~1.3 s of a night's report."""
    ours = rows.filter(pc.equal(rows.column("run_id"), run_id))
    return _value_counts(rows.column(column)), _value_counts(ours.column(column))


def _value_counts(values: pa.ChunkedArray) -> Counter:
    if not len(values):
        return Counter()
    return Counter({c["values"]: c["counts"] for c in pc.value_counts(values).to_pylist()})


_LEGEND = (
    f'<span class="legend"><span class="sw" style="background:{EARLIER}"></span>earlier runs'
    f'<span class="sw" style="background:{THIS_RUN}"></span>this run</span>'
)


def _when(value: Any) -> str:
    """An instant to the second, in UTC (rows from summary.json hold ISO strings)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else str(value)


def _card(title: str, body: str, wide: bool = False, legend: bool = False) -> str:
    head = html.escape(title) + (_LEGEND if legend else "")
    return f'<section class="card{" wide" if wide else ""}"><h2>{head}</h2>{body}</section>'


def _versions_of(warehouse: Path, row: dict[str, Any]) -> dict[str, int]:
    """Table versions as of the run: its complete-run versions (`runs` included), else those its row lists."""
    complete = {r.run_id: r for r in complete_runs(warehouse)}
    if row["run_id"] in complete:
        return dict(complete[row["run_id"]].table_versions)
    tv = row.get("table_versions") or []
    return {k: int(v) for k, v in (tv.items() if isinstance(tv, dict) else tv)}


_KPIS = (
    ("n_read", "records read"),
    ("n_new", "new documents"),
    ("n_updated", "updated"),
    ("n_unchanged", "unchanged"),
    ("n_duplicates", "duplicates"),
    ("n_quarantined", "quarantined"),
)


def _banner(row: dict[str, Any]) -> str:
    """A failed run's error, or a no-op run's "nothing new"."""
    if is_nothing_new(row):
        return (
            '<div class="noop"><b>Nothing new.</b> This run found no new, changed, duplicate or rejected record; '
            "the charts show the warehouse as it was already.</div>"
        )
    if row.get("status") != "succeeded":
        return (
            f'<div class="failed"><b>Stage {html.escape(str(row.get("failed_stage")))} failed.</b> '
            f"{html.escape(str(row.get('error') or ''))}</div>"
        )
    return ""


def _cards(warehouse: Path, row: dict[str, Any], versions: dict[str, int]) -> list[str]:
    """The report's panels: stage stats of the run, and the published tables as of it."""
    run_id, quiet = row["run_id"], is_nothing_new(row)
    stats = json.loads(row["stage_stats"]) if isinstance(row["stage_stats"], str) else row["stage_stats"]
    docs = _table_at(warehouse, DOCUMENTS, versions, ["language", "doc_type", "run_id"])
    dups = _table_at(warehouse, DUPLICATES, versions, ["kind", "run_id"])
    quarantine = _table_at(warehouse, QUARANTINE, versions, ["reason", "run_id"])
    projects = _table_at(warehouse, PROJECTS, versions, ["idf_region", "budget_usd"])
    empty = NOTHING_NEW if quiet else "none"
    version_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in sorted(versions.items()))
    return [
        _card(
            "Records through the stages (this run)",
            _funnel(stats, NOTHING_NEW if quiet else "no stage statistics"),
            wide=True,
        ),
        _card(
            "Lines removed by reason (strip_boilerplate, this run)",
            _removed_lines(stats, NOTHING_NEW if quiet else "no line removed"),
            wide=True,
        ),
        _card(
            "Quarantine reasons",
            _split_bars(*_counts(quarantine, "reason", run_id), wide=True, empty=empty),
            wide=True,
            legend=True,
        ),
        _card("Duplicates by kind", _split_bars(*_counts(dups, "kind", run_id), empty=empty), legend=True),
        _card(
            "Documents by language",
            _split_bars(*_counts(docs, "language", run_id), xlabel="documents", empty=empty),
            legend=True,
        ),
        _card(
            "Documents by type",
            _split_bars(*_counts(docs, "doc_type", run_id), xlabel="documents", empty=empty),
            legend=True,
        ),
        _card(
            "Table versions (unchanged by this run)" if quiet else "Table versions after this run",
            f"<table><tr><th>table</th><th>Delta version</th></tr>{version_rows}</table>"
            if versions
            else '<p class="empty">this run published no table version</p>',
        ),
        _card(
            "Projects by IDF region and budget",
            _projects_chart(projects.to_pylist(), NOTHING_NEW if quiet else "no projects"),
            wide=True,
        ),
    ]


def render_run_report(warehouse: Path, run_id: str) -> str:
    """The HTML page of a run."""
    row = _run_row(warehouse, run_id)
    cards = _cards(warehouse, row, _versions_of(warehouse, row))
    kpis = "".join(f'<div class="kpi"><b>{row.get(k, 0):,}</b><span>{label}</span></div>' for k, label in _KPIS)
    title = f"docpipe run {html.escape(run_id)}"
    subtitle = html.escape(
        f"{row.get('status')} · started {_when(row.get('started_at'))} · finished {_when(row.get('finished_at'))}"
        f" · code {row.get('code_version')} · config {row.get('config_fingerprint')}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body><header><h1>{title}</h1><p>{subtitle}</p></header><main>"
        f'{_banner(row)}<div class="kpis">{kpis}</div><div class="grid">{"".join(cards)}</div>'
        "<p>Counts from tables are as of this run.</p></main></body></html>"
    )


def write_run_report(warehouse: Path, run_id: str) -> Path:
    """Write warehouse/_reports/run-<run_id>.html and return its path."""
    path = report_path(warehouse, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_run_report(warehouse, run_id), encoding="utf-8")
    tmp.replace(path)
    return path
