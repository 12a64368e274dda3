"""Score field extraction against ../shared/corpus labels: per-field accuracy.

Fields: title (whitespace-normalised, case-folded exact match), doc_type, language, each `projects` field of the
labelled project pages, and e-mail addresses (precision/recall of `documents.emails` against the addresses written
in the page's non-template lines). Only pages whose label gives a value are scored for that field.

    .venv/bin/python bench/eval_extract.py [--corpus ../shared/corpus] [--show-misses]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from _corpus import DEFAULT_CORPUS, config_with, norm, run_corpus

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    run = run_corpus(args.corpus, extract=config_with(ExtractConfig, args.set))
    scores: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    email_tp = email_fp = email_fn = 0

    def check(field: str, i: int, got, want) -> None:
        ok = _same(got, want)
        scores[field][0] += ok
        scores[field][1] += 1
        if not ok:
            misses.append(f"{field} #{i}: want {want!r} got {got!r}")

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
            misses.append(f"emails #{i}: want {sorted(truth)} got {sorted(got)}")

    print(f"{'field':34} {'correct':>8} {'scored':>7} {'accuracy':>9}")
    for field, (ok, n) in scores.items():
        print(f"{field:34} {ok:8d} {n:7d} {ok / n:9.3f}")
    p = email_tp / (email_tp + email_fp) if email_tp + email_fp else 1.0
    r = email_tp / (email_tp + email_fn) if email_tp + email_fn else 1.0
    print(f"{'emails (precision / recall)':34} {email_tp:8d} {email_tp + email_fn:7d} {p:9.3f} / {r:.3f}")
    if args.show_misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
