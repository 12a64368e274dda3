"""Leave-one-organisation-out (issue #18): boilerplate and titles on organisations never seen, from k pages a site.

For each organisation family of ../shared/corpus (registered domains grouped by the name they start with: iom.int,
iom.fi and iomtehran.net are IOM; unicef.org, unicefusa.org and unicef.ie are UNICEF), the warehouse state (the
`boilerplate_pages` sample, hence the known template lines) is learned from the pages of every OTHER family; then
a run holds only k pages a site of the held-out family (the first k by a seeded hash of the URL) and is scored
on them with bench/eval_boilerplate.py's rules. Beside it: the same pages scored in the all-in run (whole corpus
in one run), and the CCNet-style peer on the held-out pages alone (a line is removed when it appears on at least
2, or 3, of the site's held-out pages).

Sites of one family share a registered domain and a menu, so a family held out as a whole still teaches its own
sites each other's template in the held-out run. The row "<family>, site held out" is the stricter case for each
family of several sites: every site of it runs alone (its k pages), on the state learned from the other
families, so nothing of its sister sites is known.

    .venv/bin/python bench/eval_unseen.py [--k 3] [--shape jsonl|txt|both] [--seed 18] [--show-misses]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from _corpus import DEFAULT_CORPUS, CorpusRun, load_corpus, norm
from _shapes import add_shape_option, chosen_shapes, write_delivery
from eval_boilerplate import _pr, score

from schemas import BOILERPLATE_PAGES, DOCUMENTS, INGESTED_FILES
from tasks.dedupe import DedupeConfig, dedupe_pages
from tasks.extract import ExtractConfig, extract_fields
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate
from tasks.strip_boilerplate.model import domain_of

_LETTERS = re.compile(r"[a-z]+")


def families(sites: list[str]) -> dict[str, str]:
    """site → organisation family: the letters its registered domain's name starts with, folded into the
    shortest other name it starts with (iomtehran → iom, unicefusa → unicef, unognewsroom → unog)."""
    names = {s: _LETTERS.match(domain_of(s).removeprefix("domain:")).group() for s in sites}
    stems = set(names.values())
    return {s: min((x for x in stems if n.startswith(x)), key=len) for s, n in names.items()}


def _ingest(pages: list[dict], shape: str) -> tuple[pa.Table, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        index = write_delivery(pages, shape, Path(tmp))
        ingested = ingest_dumps(Path(tmp), INGESTED_FILES.empty(), IngestConfig(), "eval", datetime.now(UTC))
    return ingested.kept, index


def run_with_state(pages, labels, shape: str, samples: pa.Table, cfg: BoilerplateConfig) -> CorpusRun:
    """strip_boilerplate (seeded with `samples`) and extract on `pages`; results keyed by position in `pages`."""
    kept, index = _ingest(pages, shape)
    clean = strip_boilerplate(kept, samples, cfg)
    unique = dedupe_pages(clean.kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig())
    docs = extract_fields(unique.kept, ExtractConfig()).kept
    return CorpusRun(
        labels=labels,
        clean={index[r["source_uri"]]: r for r in clean.kept.to_pylist()},
        documents={index[r["source_uri"]]: r for r in docs.to_pylist()},
        projects={},
        duplicates=[],
        shape=shape,
    )


def learned_state(pages: list[dict], shape: str, cfg: BoilerplateConfig) -> pa.Table:
    """The `boilerplate_pages` sample a warehouse holds after a run over `pages`."""
    kept, _ = _ingest(pages, shape)
    return strip_boilerplate(kept, BOILERPLATE_PAGES.empty(), cfg).outputs["boilerplate_pages"]


def ccnet_peer(labels: list[dict], min_pages: int) -> CorpusRun:
    """Line dedup within each site: a line on at least `min_pages` of the site's pages is removed."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for label in labels:
        counts[label["site"]].update({norm(x) for x in label["lines"] if x.strip()})
    clean = {
        i: {"text": "\n".join(x for x in label["lines"] if counts[label["site"]][norm(x)] < min_pages)}
        for i, label in enumerate(labels)
    }
    return CorpusRun(labels=labels, clean=clean, documents={}, projects={}, duplicates=[])


def figures(run: CorpusRun) -> tuple[list[int], list[int]]:
    """([tp, fp, fn], [titles right, titles scored]) over the run's pages."""
    lines, titles, _ = score(run)
    return [sum(v[k] for v in lines.values()) for k in range(3)], [sum(v[k] for v in titles.values()) for k in (0, 1)]


def pick(indices: list[int], pages: list[dict], labels: list[dict], k: int, seed: int) -> list[int]:
    """k pages a site, the first by a seeded hash of the URL."""
    by_site: dict[str, list[int]] = defaultdict(list)
    for i in indices:
        by_site[labels[i]["site"]].append(i)
    key = lambda i: hashlib.sha256(f"{seed}:{pages[i]['url']}".encode()).hexdigest()  # noqa: E731
    return sorted(i for members in by_site.values() for i in sorted(members, key=key)[:k])


def _cells(lines: list[int], titles: list[int] | None) -> str:
    p, r = _pr(*lines) if sum(lines) else (None, None)
    bp = f"{p:.3f} {r:.3f}" if p is not None else "    -     -"
    return f"{bp} {titles[0] / titles[1]:.3f}" if titles and titles[1] else f"{bp}     -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--k", type=int, default=3, help="pages a site of the held-out organisation")
    add_shape_option(parser)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    pages, labels = load_corpus(args.corpus)
    for shape in chosen_shapes(args.shape):
        print(f"\n== shape {shape}, k={args.k} pages a site")
        leave_one_out(pages, labels, shape, args)


def leave_one_out(pages: list[dict], labels: list[dict], shape: str, args: argparse.Namespace) -> None:
    """The per-family table (leave-one-organisation-out, site held out, all-in, CCNet peers) for one shape."""
    cfg = BoilerplateConfig()
    family = families([label["site"] for label in labels])
    all_in = run_with_state(pages, labels, shape, BOILERPLATE_PAGES.empty(), cfg)
    members: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[family[label["site"]]].append(i)
    header = (
        f"{'family':<24} {'sites':>5} {'pages':>5} {'scored':>6} {'titled':>6} | {'LOO P / R / title':^17} | "
        f"{'all-in P / R / title':^17}"
    )
    print(header + f" | {'CCNet k=2 P / R':^11} | {'CCNet k=3 P / R':^11}")
    totals = defaultdict(lambda: [0, 0, 0])
    title_totals = defaultdict(lambda: [0, 0])
    misses = []
    for fam in sorted(members, key=lambda f: -len(members[f])):
        held = pick(members[fam], pages, labels, args.k, args.seed)
        others = [pages[i] for i in range(len(pages)) if family[labels[i]["site"]] != fam]
        sub_all = CorpusRun(
            labels=[labels[i] for i in held],
            clean={n: all_in.clean[i] for n, i in enumerate(held) if i in all_in.clean},
            documents={n: all_in.documents[i] for n, i in enumerate(held) if i in all_in.documents},
            projects={},
            duplicates=[],
        )
        state = learned_state(others, shape, cfg)
        loo = run_with_state([pages[i] for i in held], [labels[i] for i in held], shape, state, cfg)
        row = {"loo": figures(loo), "all": figures(sub_all)}
        for n in (2, 3):
            row[f"cc{n}"] = figures(ccnet_peer(loo.labels, n))
        for name, (lines, titles) in row.items():
            totals[name] = [a + b for a, b in zip(totals[name], lines, strict=True)]
            title_totals[name] = [a + b for a, b in zip(title_totals[name], titles, strict=True)]
        print(_row(fam, held, labels, row))
        misses += [f"  [{fam}] title #{held[i]}: want {want!r} got {got!r}" for i, want, got in score(loo)[2]]
        misses += _line_misses(loo, fam, held)
        by_site = _site_held_out(held, pages, labels, shape, state, cfg, f"{fam}, site held out")
        if by_site is not None:
            print(_row(f"{fam}, site held out", held, labels, {**row, "loo": by_site[0]}))
            totals["site"] = [a + b for a, b in zip(totals["site"], by_site[0][0], strict=True)]
            title_totals["site"] = [a + b for a, b in zip(title_totals["site"], by_site[0][1], strict=True)]
            misses += by_site[1]
    print(
        f"{'ALL':<24} {'':>5} {'':>5} {'':>6} {'':>6} | {_cells(totals['loo'], title_totals['loo']):^17} | "
        f"{_cells(totals['all'], title_totals['all']):^17} | {_cells(totals['cc2'], None)[:11]:^11} | "
        f"{_cells(totals['cc3'], None)[:11]:^11}"
    )
    for name in ("loo", "site", "all", "cc2", "cc3"):
        tp, fp, fn = totals[name]
        right, scored = title_totals[name]
        print(f"{name}: boilerplate lines tp={tp} fp={fp} fn={fn}; titles {right}/{scored}")
    if args.show_misses:
        print("\n".join(misses))


def _row(name: str, held: list[int], labels: list[dict], row: dict[str, tuple[list[int], list[int]]]) -> str:
    """One line of the table: the held-out pages (how many are scored for boilerplate, how many for the title),
    the LOO, all-in and CCNet figures on them."""
    sites = len({labels[i]["site"] for i in held})
    scored = sum(1 for i in held if labels[i]["bp_scored"])
    titled = sum(1 for i in held if labels[i]["title"] is not None)
    return (
        f"{name:<24} {sites:>5} {len(held):>5} {scored:>6} {titled:>6} | {_cells(*row['loo']):^17} | "
        f"{_cells(*row['all']):^17} | {_cells(row['cc2'][0], None)[:11]:^11} | {_cells(row['cc3'][0], None)[:11]:^11}"
    )


def _site_held_out(
    held: list[int],
    pages: list[dict],
    labels: list[dict],
    shape: str,
    state: pa.Table,
    cfg: BoilerplateConfig,
    name: str,
) -> tuple[tuple[list[int], list[int]], list[str]] | None:
    """Each site of a family of several sites run alone on `state` (learned from the other families): summed
    figures and the misses; None for a family of one site."""
    sites: dict[str, list[int]] = defaultdict(list)
    for i in held:
        sites[labels[i]["site"]].append(i)
    if len(sites) < 2:
        return None
    lines, titles, misses = [0, 0, 0], [0, 0], []
    for members in sites.values():
        run = run_with_state([pages[i] for i in members], [labels[i] for i in members], shape, state, cfg)
        site_lines, site_titles = figures(run)
        lines = [a + b for a, b in zip(lines, site_lines, strict=True)]
        titles = [a + b for a, b in zip(titles, site_titles, strict=True)]
        misses += [f"  [{name}] title #{members[i]}: want {want!r} got {got!r}" for i, want, got in score(run)[2]]
        misses += _line_misses(run, name, members)
    return (lines, titles), misses


def _line_misses(run: CorpusRun, fam: str, held: list[int]) -> list[str]:
    """Boilerplate lines kept (fn) and body lines removed (fp) on the held-out pages."""
    from eval_boilerplate import _scored_lines

    out = []
    for n, label in enumerate(run.labels):
        if not label["bp_scored"]:
            continue
        row = run.clean.get(n)
        kept = {norm(x) for x in (row["text"] if row else "").splitlines()}
        for j in _scored_lines(label):
            removed, truth = norm(label["lines"][j]) not in kept, j in label["boilerplate"]
            if removed != truth:
                kind = "fp removed" if removed else "fn kept"
                out.append(f"  [{fam}] #{held[n]} {kind}: {label['lines'][j].strip()[:90]!r}")
    return out


if __name__ == "__main__":
    main()
