"""Score field extraction against ../shared/corpus labels: per-field accuracy.

Fields: title (whitespace-normalised, case-folded exact match), doc_type, language, each `projects` field of the
labelled project pages, and e-mail addresses (precision/recall of `documents.emails` against the addresses written
in the page's non-template lines). Only pages whose label gives a value are scored for that field. The corpus is
delivered in each shape asked for (bench/_shapes.py: JSONL with URLs, one .txt a page without URL), side by side.

    .venv/bin/python bench/eval_extract.py [--shape jsonl|txt|both] [--corpus ../shared/corpus] [--show-misses]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from _corpus import DEFAULT_CORPUS, CorpusRun, config_with, norm, run_corpus
from _shapes import add_shape_option, chosen_shapes, side_by_side

from tasks.extract import ExtractConfig

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
PROJECT_FIELDS = (
    "start_date",
    "end_date",
    "status",
    "project_type",
    "budget_usd",
    "coverage",
    "year",
    "idf_region",
    "prima_id",
    "projects_id",
    "benefiting_member_states",
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
            project = run.projects.get(doc["doc_id"], {})
            for field in PROJECT_FIELDS:
                if field in label["project"]:
                    check(f"projects.{field}", i, project.get(field), label["project"][field])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    add_shape_option(parser)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="an ExtractConfig override")
    args = parser.parse_args()
    cfg = config_with(ExtractConfig, args.set)
    misses: list[str] = []
    by_shape = {
        shape: score_fields(run_corpus(args.corpus, extract=cfg, shape=shape), misses)
        for shape in chosen_shapes(args.shape)
    }
    print(side_by_side(["field"], ["correct", "scored", "accuracy"], by_shape))
    if args.show_misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
