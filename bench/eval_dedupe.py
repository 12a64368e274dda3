"""Score dedupe: labelled duplicate groups of ../shared/corpus, or the syndicated-copies set, per delivery shape.

`--set corpus` (default): every `dup_group` must collapse to one document (groups merged / groups) and no page
may be folded together with a page of another group or of none (false merges: such page pairs).
`--set syndicated` (bench/_syndicated.py): pairs of pages whose label-clean bodies have word 3-gram Jaccard
≥ 0.85 must end in one document (recall), pairs below 0.7 must not (merges below 0.7), per variant kind.
Each shape (JSONL with URLs, one .txt a page without URL) is a separate run; figures side by side.

    .venv/bin/python bench/eval_dedupe.py [--set corpus|syndicated] [--shape jsonl|txt|both] [--show-misses]
                                          [--set FIELD=VALUE (DedupeConfig)]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

from _corpus import DEFAULT_CORPUS, CorpusRun, config_with, run_corpus
from _shapes import add_shape_option, chosen_shapes, side_by_side, split_set_option

from tasks.dedupe import DedupeConfig

SETS = ("corpus", "syndicated")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    add_shape_option(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SET|FIELD=VALUE",
        help=f"one of {SETS}, or a DedupeConfig override",
    )
    args = parser.parse_args()
    name, overrides = split_set_option(args.set, SETS)
    cfg = config_with(DedupeConfig, overrides)
    misses: list[str] = []
    by_shape = {}
    for shape in chosen_shapes(args.shape):
        run = run_corpus(args.corpus, shape=shape, dedupe=cfg)
        by_shape[shape] = group_rows(run, misses)
    print(side_by_side(["corpus"], ["value"], by_shape))
    if args.show_misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
