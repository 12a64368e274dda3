"""Score boilerplate removal and titles against ../shared/corpus labels.

Line-level precision/recall of boilerplate removal (a labelled line counts as removed when it is not among the
lines of `documents.text`), per site and overall, on pages with `bp_scored`; lines with fewer than three letters or
digits, the title line, contact, field and ignored lines are not scored. Title: exact match after whitespace
normalisation and case folding, where the label has a title. The corpus is delivered in each shape asked for
(bench/_shapes.py: JSONL with URLs, or one .txt a page without URL) and the figures are printed side by side.

    .venv/bin/python bench/eval_boilerplate.py [--shape jsonl|txt|both] [--min-site-pages 10] [--show-misses]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

from _corpus import DEFAULT_CORPUS, config_with, norm, run_corpus
from _shapes import add_shape_option, chosen_shapes, side_by_side

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


def listed_sites(run, min_site_pages: int) -> set[str]:
    """Sites shown on their own: large ones, and any with a boilerplate error."""
    lines = score(run)[0]
    pages = Counter(label["site"] for label in run.labels)
    return {s for s in pages if pages[s] >= min_site_pages or (s in lines and lines[s][1] + lines[s][2])}


def site_rows(run, listed: set[str]) -> dict[tuple, list]:
    """Rows of the table: (site, pages) → [bp_prec, bp_rec, title] for the listed sites, then ALL."""
    lines, titles, _ = score(run)
    pages = Counter(label["site"] for label in run.labels)
    rows: dict[tuple, list] = {}
    for site in sorted(listed):
        p, r = _pr(*lines[site]) if site in lines else (None, None)
        rows[(site, pages[site])] = [p, r, titles[site][0] / titles[site][1] if titles[site][1] else None]
    total = [sum(v[k] for v in lines.values()) for k in range(3)]
    tc, tn = sum(v[0] for v in titles.values()), sum(v[1] for v in titles.values())
    rows[("ALL", len(run.labels))] = [*_pr(*total), tc / tn if tn else None]
    return rows


def totals_line(run) -> str:
    lines, titles, _ = score(run)
    tp, fp, fn = (sum(v[k] for v in lines.values()) for k in range(3))
    tc, tn = sum(v[0] for v in titles.values()), sum(v[1] for v in titles.values())
    return f"{run.shape}: boilerplate lines tp={tp} fp={fp} fn={fn}; titles {tc}/{tn}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--min-site-pages", type=int, default=10, help="sites listed on their own")
    parser.add_argument("--show-misses", action="store_true")
    add_shape_option(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a BoilerplateConfig field, e.g. --set min_site_pages=3",
    )
    args = parser.parse_args()
    cfg = config_with(BoilerplateConfig, args.set)
    runs = {shape: run_corpus(args.corpus, boilerplate=cfg, shape=shape) for shape in chosen_shapes(args.shape)}
    listed = set().union(*(listed_sites(run, args.min_site_pages) for run in runs.values()))
    by_shape = {shape: site_rows(run, listed) for shape, run in runs.items()}
    print(side_by_side(["site", "pages"], ["bp_prec", "bp_rec", "title"], by_shape))
    for run in runs.values():
        print(totals_line(run))
    if args.show_misses:
        for shape, run in runs.items():
            for i, want, got in score(run)[2]:
                print(f"  [{shape}] title #{i}: want {want!r} got {got!r}")


if __name__ == "__main__":
    main()
