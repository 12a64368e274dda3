"""Score boilerplate removal and titles against ../shared/corpus labels.

Line-level precision/recall of boilerplate removal (a labelled line counts as removed when it is not among the
lines of `documents.text`), per site and overall, on pages with `bp_scored`; lines with fewer than three letters or
digits, the title line, contact, field and ignored lines are not scored. Title: exact match after whitespace
normalisation and case folding, where the label has a title.

    .venv/bin/python bench/eval_boilerplate.py [--corpus ../shared/corpus] [--min-site-pages 10]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from _corpus import DEFAULT_CORPUS, config_with, norm, run_corpus

from tasks.strip_boilerplate import BoilerplateConfig

_ALNUM = re.compile(r"[^\W_]", re.UNICODE)


def _scored_lines(label: dict) -> list[int]:
    skip = set(label["contact"]) | set(label["fields"]) | set(label["ignore"]) | {label["title_line"]}
    return [i for i, line in enumerate(label["lines"]) if i not in skip and len(_ALNUM.findall(line)) >= 3]


def score(run) -> tuple[dict[str, list[int]], dict[str, list[int]], list[tuple]]:
    """Per site: [tp, fp, fn] of boilerplate lines, and [correct, total] of titles; plus the title misses."""
    lines_by_site: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    titles_by_site: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for i, label in enumerate(run.labels):
        site = label["site"]
        row = run.clean.get(i)
        kept = {norm(x) for x in (row["text"] if row else "").splitlines()}
        if label["bp_scored"]:
            truth = set(label["boilerplate"])
            for j in _scored_lines(label):
                removed = norm(label["lines"][j]) not in kept
                counts = lines_by_site[site]
                if removed and j in truth:
                    counts[0] += 1
                elif removed:
                    counts[1] += 1
                elif j in truth:
                    counts[2] += 1
        doc = run.documents.get(i)
        if label["title"] is not None and doc is not None:
            ok = norm(doc["title"]) == norm(label["title"])
            titles_by_site[site][0] += ok
            titles_by_site[site][1] += 1
            if not ok:
                misses.append((i, label["title"], doc["title"]))
    return lines_by_site, titles_by_site, misses


def _pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--min-site-pages", type=int, default=10, help="sites listed on their own")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a BoilerplateConfig field, e.g. --set min_site_pages=3",
    )
    args = parser.parse_args()
    run = run_corpus(args.corpus, boilerplate=config_with(BoilerplateConfig, args.set))
    lines, titles, misses = score(run)
    pages = defaultdict(int)
    for label in run.labels:
        pages[label["site"]] += 1
    print(f"{'site':32} {'pages':>5} {'bp_prec':>8} {'bp_rec':>8} {'title':>8}")
    big = sorted(
        s for s in pages if pages[s] >= args.min_site_pages or (lines[s][1] + lines[s][2] if s in lines else 0)
    )
    for site in big:
        p, r = _pr(*lines[site]) if site in lines else (float("nan"), float("nan"))
        t = titles[site][0] / titles[site][1] if titles[site][1] else float("nan")
        print(f"{site:32} {pages[site]:5d} {p:8.3f} {r:8.3f} {t:8.3f}")
    total = [sum(v[k] for v in lines.values()) for k in range(3)]
    p, r = _pr(*total)
    tc, tn = sum(v[0] for v in titles.values()), sum(v[1] for v in titles.values())
    print(f"{'ALL':32} {len(run.labels):5d} {p:8.3f} {r:8.3f} {tc / tn:8.3f}")
    print(f"boilerplate lines: tp={total[0]} fp={total[1]} fn={total[2]}; titles {tc}/{tn}")
    if args.show_misses:
        for i, want, got in misses:
            print(f"  title #{i}: want {want!r} got {got!r}")


if __name__ == "__main__":
    main()
