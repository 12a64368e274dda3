"""Score dedupe: labelled duplicate groups of ../shared/corpus, or the syndicated-copies set, per delivery shape.

`--set corpus` (default): every `dup_group` must collapse to one document (groups merged / groups) and no page
may be folded together with a page of another group or of none (false merges: such page pairs).
`--set syndicated` (bench/_syndicated.py): pairs of pages whose label-clean bodies have word 3-gram Jaccard
≥ 0.85 must end in one document (recall), pairs below 0.7 must not (merges below 0.7), per variant kind.
Each shape (JSONL with URLs, one .txt a page without URL) is a separate run; figures side by side.

    .venv/bin/python bench/eval_dedupe.py [--set corpus|syndicated] [--shape jsonl|txt|both] [--seed 13] [--show-misses]
                                          [--set FIELD=VALUE (DedupeConfig)]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
from _corpus import DEFAULT_CORPUS, CorpusRun, config_with, load_corpus, run_corpus, run_pages
from _shapes import add_set_option, add_shape_option, chosen_shapes, side_by_side, split_set_option
from _syndicated import SyndicatedSet, build_syndicated

from tasks.dedupe import DedupeConfig

SETS = ("corpus", "syndicated")
MIN_SAME = 0.85  # body Jaccard from which two pages are one document
MAX_DIFFERENT = 0.7  # body Jaccard below which two pages must never be merged


def together(run: CorpusRun) -> dict[str, list[int]]:
    """doc_id → the page indices published as it or folded into it."""
    docs: dict[str, list[int]] = defaultdict(list)
    for i, doc_id in run.ended_in.items():
        docs[doc_id].append(i)
    return docs


def group_rows(run: CorpusRun, misses: list[str]) -> dict[tuple, list]:
    """groups merged / groups, false merges (page pairs of different groups in one document), kinds."""
    group_of = {i: label["dup_group"] for i, label in enumerate(run.labels)}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, group in group_of.items():
        if group is not None:
            groups[group].append(i)
    merged = 0
    for group, members in groups.items():
        ends = {run.ended_in.get(i) for i in members}
        if len(ends) == 1 and None not in ends:
            merged += 1
        else:
            misses.append(f"[{run.shape}] group {group} not merged: pages {members} → {sorted(map(str, ends))}")
    false = 0
    for doc_id, members in together(run).items():
        for a, b in combinations(sorted(members), 2):
            if group_of[a] is None or group_of[a] != group_of[b]:
                false += 1
                misses.append(f"[{run.shape}] false merge in {doc_id}: pages {a} and {b}")
    kinds = Counter(d["kind"] for d in run.duplicates)
    rows: dict[tuple, list] = {
        ("groups merged",): [f"{merged}/{len(groups)}"],
        ("false merges (page pairs)",): [false],
        ("pages quarantined",): [len(run.quarantined)],
        ("documents",): [len(run.documents)],
    }
    rows.update({(f"duplicates: {kind}",): [n] for kind, n in sorted(kinds.items())})
    return rows


def pair_rows(run: CorpusRun, truth: SyndicatedSet, misses: list[str]) -> dict[tuple, list]:
    """Per pair kind: pairs with body Jaccard ≥ MIN_SAME, how many ended in one document, recall; and pairs below
    MAX_DIFFERENT that ended in one document (merges)."""
    same = np.argwhere(np.triu(truth.jaccard >= MIN_SAME, k=1))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, j in same:
        kind = truth.pair_kind(i, j)
        counts[kind][0] += 1
        end = run.ended_in.get(i)
        if end is not None and end == run.ended_in.get(j):
            counts[kind][1] += 1
        else:
            lost = "".join(
                f" [{k} quarantined: {', '.join(run.quarantined[k])}]" for k in (i, j) if k in run.quarantined
            )
            misses.append(f"[{run.shape}] {kind} not merged (J={truth.jaccard[i, j]:.3f}): pages {i} and {j}{lost}")
    for members in together(run).values():
        for i, j in combinations(sorted(members), 2):
            if truth.jaccard[i, j] < MAX_DIFFERENT:
                kind = truth.pair_kind(i, j)
                counts[kind][2] += 1
                misses.append(f"[{run.shape}] {kind} merged (J={truth.jaccard[i, j]:.3f}): pages {i} and {j}")
    rows = {(kind,): [n, ok, ok / n if n else None, bad] for kind, (n, ok, bad) in sorted(counts.items())}
    n, ok, bad = (sum(c[k] for c in counts.values()) for k in range(3))
    rows[("ALL",)] = [n, ok, ok / n if n else None, bad]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--seed", type=int, default=13, help="seed of the syndicated set")
    add_shape_option(parser)
    add_set_option(parser, SETS, "DedupeConfig")
    args = parser.parse_args()
    name, overrides = split_set_option(args.set, SETS)
    cfg = config_with(DedupeConfig, overrides)
    misses: list[str] = []
    by_shape = {}
    if name == "corpus":
        for shape in chosen_shapes(args.shape):
            by_shape[shape] = group_rows(run_corpus(args.corpus, shape=shape, dedupe=cfg), misses)
        print(side_by_side(["corpus"], ["value"], by_shape))
    else:
        pages, labels = load_corpus(args.corpus)
        truth = build_syndicated(pages, labels, seed=args.seed)
        lost = {}
        for shape in chosen_shapes(args.shape):
            run = run_pages(truth.delivery(), shape, dedupe=cfg)
            by_shape[shape], lost[shape] = pair_rows(run, truth, misses), run.quarantined
        header = [f"≥{MIN_SAME}", "merged", "recall", f"<{MAX_DIFFERENT} merged"]
        print(side_by_side(["syndicated set: pairs by kind"], header, by_shape, order=lambda k: (k[0] == "ALL", k)))
        print(
            f"{len(truth.pages)} pages; pairs J ≥ {MIN_SAME} must end in one document, pairs J < {MAX_DIFFERENT} never"
        )
        for shape, quarantined in lost.items():
            reasons = Counter(r for rs in quarantined.values() for r in rs)
            print(f"{shape}: {len(quarantined)} pages quarantined {dict(sorted(reasons.items()))}")
    if args.show_misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
