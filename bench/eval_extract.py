"""Score field extraction against ../shared/corpus labels: per-field accuracy.

Fields: title (whitespace-normalised, case-folded exact match), doc_type, language, each `projects` field of the
labelled project pages, and e-mail addresses (precision/recall of `documents.emails` against the addresses written
in the page's non-template lines). Only pages whose label gives a value are scored for that field. The corpus is
delivered in each shape asked for (bench/_shapes.py: JSONL with URLs, one .txt a page without URL), side by side.

`--set projects` scores the project-section case (bench/_project_section.py: ≥ 20 project pages of one site in
both layouts, and two pages breaking a `projects` rule) through validate too: titles, doc_type, every field of
the good pages, and which pages were quarantined for which reason (always listed).

    .venv/bin/python bench/eval_extract.py [--set corpus|projects] [--shape jsonl|txt|both] [--show-misses]
                                           [--set FIELD=VALUE (ExtractConfig)]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from _corpus import DEFAULT_CORPUS, CorpusRun, config_with, load_corpus, norm, run_corpus, run_pages
from _project_section import ProjectPage, as_columns, build_project_section
from _shapes import add_set_option, add_shape_option, chosen_shapes, side_by_side, split_set_option

from schemas import PROJECTS
from schemas.projects import DEPRECATED_COLUMNS
from tasks.extract import ExtractConfig

SETS = ("corpus", "projects")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
PROJECT_FIELDS = (
    "start_year",
    "end_year",
    "status",
    "project_type",
    "budget_usd",
    "coverage",
    "year",
    "idf_region",
    "prima_id",
    "projects_id",
    "benefiting_member_states",
    *DEPRECATED_COLUMNS,  # still filled (issue #16): scored against their replacement's truth
)


def _same(got, want) -> bool:
    if isinstance(want, str):
        return norm(got) == norm(want)
    if isinstance(want, list):
        return [norm(x) for x in got or []] == [norm(x) for x in want]
    return got == want


def score_fields(run: CorpusRun, misses: list[str]) -> dict[tuple, list]:
    """field → [correct, scored, accuracy] over the labelled pages published as a document; e-mails as
    [tp, tp + fn, "precision / recall"]."""
    scores: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    email_tp = email_fp = email_fn = 0

    def check(field: str, i: int, got, want) -> None:
        ok = _same(got, want)
        scores[field][0] += ok
        scores[field][1] += 1
        if not ok:
            misses.append(f"[{run.shape}] {field} #{i}: want {want!r} got {got!r}")

    for i, label in enumerate(run.labels):
        doc = run.documents.get(i)
        if doc is None:
            continue
        if label["title"] is not None:
            check("title", i, doc["title"], label["title"])
        if label["doc_type"] is not None:
            check("doc_type", i, doc["doc_type"], label["doc_type"])
        if label["language"] is not None:
            check("language", i, doc["language"], label["language"])
        if label["project"]:
            project, truth = run.projects.get(doc["doc_id"], {}), as_columns(label["project"])
            for field in PROJECT_FIELDS:
                if DEPRECATED_COLUMNS.get(field, field) in truth:
                    check(f"projects.{field}", i, project.get(field), truth[DEPRECATED_COLUMNS.get(field, field)])
        template = set(label["boilerplate"])
        truth = {m.lower() for j, line in enumerate(label["lines"]) if j not in template for m in _EMAIL.findall(line)}
        got = set(doc["emails"] or [])
        email_tp += len(got & truth)
        email_fp += len(got - truth)
        email_fn += len(truth - got)
        if got != truth:
            misses.append(f"[{run.shape}] emails #{i}: want {sorted(truth)} got {sorted(got)}")
    rows: dict[tuple, list] = {(field,): [ok, n, ok / n] for field, (ok, n) in scores.items()}
    p = email_tp / (email_tp + email_fp) if email_tp + email_fp else 1.0
    r = email_tp / (email_tp + email_fn) if email_tp + email_fn else 1.0
    rows[("emails (precision / recall)",)] = [email_tp, email_tp + email_fn, f"{p:.3f} / {r:.3f}"]
    return rows


def _rule_reasons(columns: tuple[str, ...]) -> set[str]:
    """Reason codes of the `projects` expectations about exactly these columns (schemas/projects.py)."""
    rules = [*(e for column in PROJECTS.columns for e in column.expect), *PROJECTS.expect]
    about = ("column", "column_A", "column_B")
    return {e.reason(PROJECTS.name) for e in rules if {e.kwargs[k] for k in about if k in e.kwargs} == set(columns)}


def project_rows(run: CorpusRun, truth: list[ProjectPage], misses: list[str]) -> dict[tuple, list]:
    """Titles, doc_type, every field of the good pages, and who was quarantined why (validate included)."""
    good = [i for i, page in enumerate(truth) if not page.breaks]
    titles = doc_types = fields_ok = n_fields = all_right = rows_published = bad_caught = good_quarantined = 0
    deprecated_same = 0
    for i, page in enumerate(truth):
        doc = run.documents.get(i)
        reasons = run.quarantined.get(i, [])
        tag = f"[{run.shape}] #{i} {page.layout} {page.title!r}"
        if reasons:
            misses.append(
                f"{tag} quarantined: {', '.join(reasons)}" + (f" (breaks {page.breaks})" if page.breaks else "")
            )
        if page.breaks:
            bad_caught += bool(set(reasons) & _rule_reasons(page.breaks))
        else:
            good_quarantined += bool(reasons)
        if doc is None:
            misses.append(f"{tag}: no document published")
            continue
        titles += norm(doc["title"]) == norm(page.title)
        doc_types += doc["doc_type"] == page.doc_type
        if norm(doc["title"]) != norm(page.title) or doc["doc_type"] != page.doc_type:
            misses.append(f"{tag}: got title {doc['title']!r}, doc_type {doc['doc_type']!r}")
        if page.breaks:
            continue
        project = run.projects.get(doc["doc_id"])
        rows_published += project is not None
        right = 0
        for column, want in page.fields.items():
            got = (project or {}).get(column)
            right += _same(got, want)
            if not _same(got, want):
                misses.append(f"{tag} projects.{column}: want {want!r} got {got!r}")
        fields_ok += right
        deprecated_same += all((project or {}).get(d) == (project or {}).get(r) for d, r in DEPRECATED_COLUMNS.items())
        n_fields += len(page.fields)
        all_right += right == len(page.fields)
    if run.failure:
        misses.append(f"[{run.shape}] the night fails at validate: {run.failure}")
    return {
        ("pages (good + rule-breaking)",): [f"{len(good)} + {len(truth) - len(good)}"],
        ("documents published",): [f"{len(run.documents)}/{len(truth)}"],
        ("titles correct",): [f"{titles}/{len(truth)}"],
        ("doc_type = project",): [f"{doc_types}/{len(truth)}"],
        ("projects rows (good pages)",): [f"{rows_published}/{len(good)}"],
        ("fields correct (good pages)",): [f"{fields_ok}/{n_fields}"],
        ("pages with every field right",): [f"{all_right}/{len(good)}"],
        ("deprecated start_date/end_date = start_year/end_year",): [f"{deprecated_same}/{len(good)}"],
        ("rule-breaking pages quarantined by their rule",): [f"{bad_caught}/{len(truth) - len(good)}"],
        ("good pages quarantined",): [good_quarantined],
        ("night fails at validate",): ["yes" if run.failure else "no"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    add_shape_option(parser)
    parser.add_argument("--seed", type=int, default=13, help="seed of the projects set")
    add_set_option(parser, SETS, "ExtractConfig")
    args = parser.parse_args()
    name, overrides = split_set_option(args.set, SETS)
    cfg = config_with(ExtractConfig, overrides)
    misses: list[str] = []
    if name == "corpus":
        by_shape = {
            shape: score_fields(run_corpus(args.corpus, extract=cfg, shape=shape), misses)
            for shape in chosen_shapes(args.shape)
        }
        print(side_by_side(["field"], ["correct", "scored", "accuracy"], by_shape))
    else:
        truth = build_project_section(load_corpus(args.corpus)[1], seed=args.seed)
        delivery = [{"url": page.url, "text": page.text} for page in truth]
        by_shape = {
            shape: project_rows(run_pages(delivery, shape, extract=cfg, validate=True), truth, misses)
            for shape in chosen_shapes(args.shape)
        }
        print(side_by_side([f"project section ({truth[0].url.split('/')[2]})"], ["value"], by_shape))
        misses = [m for m in misses if args.show_misses or " quarantined: " in m or "night fails" in m]
    if misses and (args.show_misses or name == "projects"):
        print("\n".join(misses))


if __name__ == "__main__":
    main()
