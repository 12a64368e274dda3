"""The fast paths of strip_boilerplate give what the straightforward code gives: sketches, line fingerprints,
folded labels, body containment (copies.py) and the copy check (`copies_of`), checked against reference versions
on random pages."""

from __future__ import annotations

import bisect
import random
import re
import unicodedata

import pyarrow as pa
import pytest

from schemas import BOILERPLATE_PAGES, reasons
from tasks._stage import content_hash, normalise_text
from tasks.strip_boilerplate import model
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.copies import PageGrams, intern_body
from tasks.strip_boilerplate.lines import gram_hash, is_trivial, line_keys, page_line_hashes, page_sketch, sketch_window
from tasks.strip_boilerplate.model import (
    PageSample,
    _GroupModel,
    _removed_keys,
    _strip_with,
    clean_page,
    lines_in_doubt,
    page_group,
)
from tasks.strip_boilerplate.nav_shape import _folded, _glued_to, _label

_WORD = re.compile(r"\w+", re.UNICODE)
_VOCABULARY = ["home", "news", "Press", "about", "über", "Quiénes", "somos", "ΣΟΦΙΑ", "tôi", "العربية", "report"]
_VOCABULARY += ["the", "of", "and", "a", "2024", "ﬁsh", "STRASSE"]


def _ref_sketch(lines: list[str], cfg: BoilerplateConfig) -> list[int]:
    words = _WORD.findall("\n".join(sketch_window(lines, cfg)).casefold())
    grams = {" ".join(words[i : i + 3]) for i in range(max(len(words) - 2, 1 if words else 0))}
    return sorted(gram_hash(g) for g in grams)[: cfg.sketch_size]


def _ref_line_hashes(lines: list[str], cfg: BoilerplateConfig) -> list[int]:
    window = lines[: cfg.max_head_lines] + lines[-cfg.max_tail_lines :]
    return sorted({k for x in window if not is_trivial(x) for k in line_keys(x, cfg)})


def _ref_containment(lines: list[str], other_lines: frozenset[int], sketches: list[list[int]], cfg) -> float:
    """copies.PageGrams as first written: every 3-gram with its three window lines, a set per document."""
    window = sketch_window(lines, cfg)
    keys = [() if is_trivial(x) else tuple(line_keys(x, cfg)) for x in window]
    words: list[str] = []
    at: list[int] = []
    for j, x in enumerate(window):
        found = _WORD.findall(x.casefold())
        words += found
        at += [j] * len(found)
    grams = sorted((gram_hash(" ".join(words[i : i + 3])), *at[i : i + 3]) for i in range(len(words) - 2))
    shared = [bool(k) and not other_lines.isdisjoint(k) for k in keys]
    best = 0.0
    for sketch in sketches:
        if not sketch:
            continue
        k = cfg.sketch_size
        limit = len(grams) if len(sketch) < k else bisect.bisect_right(grams, (sketch[-1], 1 << 62))
        body = {h for h, a, b, c in grams[:limit] if not (shared[a] and shared[b] and shared[c])}
        if body:
            best = max(best, len(body.intersection(sketch)) / len(body))
    return best


def _ref_folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", normalise_text(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _line(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 3, 5, 8, 12, 30])
    words = [
        rng.choice(_VOCABULARY) if rng.random() < 0.8 else rng.choice(["·", "|", "—", "a\u0301", ""]) for _ in range(n)
    ]
    return rng.choice(["", "  ", "• "]) + " ".join(words) + rng.choice(["", ".", " ", "\u00a0"])


def _page(rng: random.Random, template: list[str]) -> list[str]:
    body = [_line(rng) for _ in range(rng.randint(0, 40))]
    return template[: rng.randint(0, len(template))] + body + template[rng.randint(0, len(template)) :]


def test_sketches_line_hashes_and_containment_match_reference():
    rng = random.Random(14)
    for size in (128, 8, 1):
        cfg = BoilerplateConfig(sketch_size=size, max_head_lines=rng.choice([150, 6]), max_tail_lines=4)
        template = [_line(rng) for _ in range(12)]
        pages = [_page(rng, template) for _ in range(60)]
        pages += [p[:3] + [x.upper() for x in p[3:]] for p in pages[:10]]  # variants of a body
        for page in pages:
            assert page_sketch(page, cfg) == _ref_sketch(page, cfg)
            assert page_line_hashes(page, cfg) == _ref_line_hashes(page, cfg)
        seen: dict = {}
        for page in pages[:40]:
            grams = PageGrams.of(page, cfg)
            for other in rng.sample(pages, 12):
                lines = frozenset(_ref_line_hashes(other, cfg))
                sketch = page_sketch(other, cfg)
                sketches = [
                    sketch,
                    [],
                    rng.sample(sketch, len(sketch)),
                    sketch[: len(sketch) // 2],
                    _ref_sketch(page, cfg),
                ]
                sketches = rng.sample(sketches, rng.randint(1, 3))
                got = grams.body_containment(intern_body(lines, sketches, cfg.sketch_size, seen))
                assert got == _ref_containment(page, lines, sketches, cfg)


def test_folded_matches_reference():
    rng = random.Random(18)
    texts = ["Quiénes somos", "ΣΟΦΙΑ ς", "عَرَبِيّ", "ß İstanbul ﬁ", "x\u0301\u0302 Ǆ", "plain Text  here"]
    texts += ["".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(12)) for _ in range(3000)]
    assert [_folded(t) for t in texts] == [_ref_folded(t) for t in texts]


def _ref_glued_to(line: str, above: str | None) -> bool:
    if not above:
        return False
    head, label = _ref_folded(line), _ref_folded(_label(above))
    return len(label) >= 3 and head.startswith(label) and len(head) > len(label) and head[len(label)].isalnum()


def test_glued_label_matches_reference_on_long_lines():
    rng = random.Random(20)
    spaces = [" ", "  ", "\u00a0", "\u3000", "\u2003", "\x1c", " \u0301", "\u1680"]
    pieces = ["Who we are", "WHO WE ARE", "Qui\u0301enes", "Quiénes somos", "ﬁ", "ß", "Σ", "e\u0301", "x", "The"]
    for _ in range(4000):
        above = rng.choice([None, "", "ab", "• Who we are", "Quiénes somos", "ﬁsh ßtore", "Σ ς Σ", "A" * 40])
        n = rng.choice([3, 20, 60, 200])
        line = "".join(rng.choice(pieces) + (rng.choice(spaces) if rng.random() < 0.3 else "") for _ in range(n))
        if above and rng.random() < 0.5:
            line = above.upper().replace(" ", rng.choice(spaces)) + line
        assert _glued_to(line, above) == _ref_glued_to(line, above), (line, above)


def _every_frequent_line(
    removed: set[int], site: _GroupModel, domain: _GroupModel, cfg: BoilerplateConfig
) -> tuple[set[int], set[int]]:
    """The variant walk as first written: on every removed line frequent in each model, however often counted
    there or in the other model."""
    return tuple(
        {h for h in removed if group.counts.get(h, 0) >= group.strip_need(cfg, is_domain)}
        for group, is_domain in ((site, False), (domain, True))
    )


def _night(shape: str, tmp_path) -> tuple[pa.Table, list[tuple[list[str], str]]]:
    """A generated night of 3,000 3-KB pages with planted copies: its pages, and (lines, group) of each."""
    from _pipeline_corpus import PageStream, load_parts, write_raw
    from helpers import ingest

    raw = tmp_path / shape
    write_raw(PageStream(load_parts(seed=7), seed=7, page_kb=3.0).take(3_000), shape, raw)
    pages = ingest(raw, "night-1").kept
    cfg = BoilerplateConfig()
    out = []
    for row in pages.select(["url", "raw_text"]).to_pylist():
        lines = (row["raw_text"] or "").splitlines()
        out.append((lines, page_group(row["url"], lines, cfg)))
    return pages, out


@pytest.mark.parametrize("shape", ["jsonl", "txt"])
def test_variants_looked_for_on_lines_in_doubt_strip_as_when_looked_for_on_every_line(shape, tmp_path, monkeypatch):
    """`_without_variants` looks for a page's variants only on its removed lines counted below `many`, and in
    one model only on those counted below `many` in the other (`lines_in_doubt`); looking on every removed
    frequent line gives the same bodies, on a generated night with and without URLs. The data exercise both: most
    pages skip the walk, and on some the merge of their variants keeps body lines."""
    cfg = BoilerplateConfig()
    pages, rows = _night(shape, tmp_path)
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(pages)
    models = sample.models()
    fast = [clean_page(lines, group, models, cfg)[0] for lines, group in rows]
    unmerged, skipped = [], 0
    for lines, group in rows:
        site, domain = models.of(group)
        cleaned = _strip_with(lines, site, domain, models.known.__contains__, cfg)
        removed = _removed_keys(lines, cleaned, cfg)
        unmerged.append(cleaned[0])
        repeated = cleaned[4].get(reasons.BOILERPLATE_REPEATED)
        skipped += bool(repeated) and not any(lines_in_doubt(removed, site, domain, cfg))
    monkeypatch.setattr(model, "lines_in_doubt", _every_frequent_line)
    slow = [clean_page(lines, group, models, cfg)[0] for lines, group in rows]
    assert fast == slow
    assert sum(a != b for a, b in zip(slow, unmerged, strict=True)) >= 3  # 6 (JSON Lines), 3 (.txt): bodies kept
    # 1,960 (JSON Lines; 1,424 walking on lines counted `many` in the other model) and 2,192 (.txt) of 2,997
    assert skipped >= len(rows) // 3


def _ref_copies_of(group: _GroupModel, lines: frozenset[int], own_key: str, min_shared: float) -> list[str]:
    """`copies_of` as first written: every sampled document's lines against the page's."""
    out = []
    for key, other in group.pages.items():
        rare = sum(1 for h in lines & other if group.counts[h] <= 2)
        if key != own_key and rare >= min_shared * len(lines):
            out.append(key)
    return out


@pytest.mark.parametrize("shape", ["jsonl", "txt"])
def test_copies_found_through_carriers_are_those_of_a_scan_of_every_document(shape, tmp_path):
    """`_GroupModel.copies_of` tallies the documents carrying the page's rare lines; a scan of every sampled
    document finds the same copies, in the same order, for every page of a generated night with planted copies
    (the sampled ones, whose own document is left out, and the others), in its site's and its domain's model."""
    cfg = BoilerplateConfig()
    pages, rows = _night(shape, tmp_path)
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(pages)
    models = sample.models()
    found = 0
    for lines, group in rows:
        keys, own = frozenset(page_line_hashes(lines, cfg)), content_hash("\n".join(lines))
        for grouped in models.of(group):
            for key in (own, next(iter(grouped.pages), own)):
                got = grouped.copies_of(keys, key, cfg.min_copy_shared)
                assert got == _ref_copies_of(grouped, keys, key, cfg.min_copy_shared)
                found += bool(got)
        assert models.of(group)[0].copies_of(frozenset(), own, cfg.min_copy_shared) == [
            key for key in models.of(group)[0].pages if key != own
        ]
    assert found >= 50
    site = models.of(rows[0][1])[0]
    first = next(iter(site.pages))
    for derived in (site.without([first]), site.merged(list(site.pages)[:2])):  # no carriers: a look-up refuses
        with pytest.raises(ValueError, match="derived"):
            derived.copies_of(site.pages[first], first, cfg.min_copy_shared)
        with pytest.raises(ValueError, match="derived"):
            derived.variants(lambda body: True, first, set(site.pages[first]), cfg, False)
