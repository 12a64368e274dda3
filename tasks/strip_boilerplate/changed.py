"""Which published documents are stripped again tonight: of the groups whose sample changed, the documents
carrying a line whose evidence changed; of any group, those carrying a line whose known groups changed.

A published document can strip differently only through what stripping reads (`RestripScope`): of its site's
and its domain's models, the document count (the thresholds, also at the fewer documents left once its variants
are merged or its copies left out) and, for each fingerprint of its lines it looks up, the count, the
documents carrying it (its copies are found among them, its variants among those of the lines counted below
"many", `_GroupModel.in_doubt`); and, of every group, whether a line is
known there. When a group's document count stays, its counts and carriers can change only for the lines of the
documents that entered, left or changed in its sample (*touched* lines). Of these, a line counted "many" on both
sides (`_GroupModel.many`: the threshold stripping reads the group's model with, plus the most that merging a
page's variants, `_GroupModel.max_variants`, or leaving out its copies lowers a count by) is read only as
frequent; whether it is known is read from the unmerged counts (below). So a published document
is a *candidate* when its group's document count changed (the whole group), or one of its fingerprints is a
touched line counted below "many" on either side, or a line whose known groups changed (in any group); the others
strip as they were published and are not stripped again. This keeps an incremental night over a large warehouse
cheap: a full sample of a big template group takes new pages every night, and only the documents sharing a line
with them below "many" (their copies, variants, pages of the same rare line) are stripped again.

The fingerprints are those the page's cleaning looked up (`model.clean_page`'s `read`, stored as
`documents.line_keys`), not every line's: cleaning walks from the top and the bottom and stops where the page's
own text begins, and it is a function of its look-ups, so a document none of whose looked-up fingerprints changed
is cleaned the same way, through the same look-ups (a fifth of the candidates of every line's fingerprints on
the 100k bench's night 2, none of the documents that change missed). When a candidate is cleaned to the same
text through a fingerprint it does not store, it is published again with its new ones (`pages._covered`; dedupe
lets it through: `version.keys_hash`), so the stored ones always cover the cleaning that gave the published text.
Documents stored without them (published before docpipe kept them) are tested on all their lines (`page_keys`).
Of the touched lines, those counted below `least_read` on both sides (below "seen twice" and every threshold: 0
or 1) get the same answer from every look-up but the copy check's, which asks which pages carry them; so they
make candidates only of the documents whose cleaning checked them for copies (a page left gutted by its
template), told by the mark `model.NO_COPY_CHECK` that every other cleaning stores (`RestripScope.rare`; a
document stored without the mark is read as checked). A candidate whose check changes either way is cleaned
through other look-ups, so it is re-keyed like any other (`pages._covered`). Likewise, of the other touched lines,
those whose count class stays (`_GroupModel.count_class`: the same side of "seen twice", of the threshold and of
`many`, the only counts a look-up compares theirs with) get the same answers from every look-up of a page that
reads only their counts in that model: one not checked for copies that looked for no variants there (the walk
reads which documents carry a line, and a merge lowers counts). Such lines (`RestripScope.walked`) make candidates
only of the documents stored without `NO_COPY_CHECK` or without that model's walk mark (`model.NO_SITE_WALK`,
`NO_DOMAIN_WALK`), and of these, narrower still: a copy check that found no copies (`model.NO_COPIES`) reads only
the lines counted 2 or less on a side (`RestripScope.low`: which pages carry them); a walk that found fewer than
two variants (`model.NO_SITE_MERGE`, `NO_DOMAIN_MERGE`) merged nothing and looked at no more than the threshold
plus one of the documents carrying each line it was in doubt on (stored as `model.doubt_key`), so it reads a line
only when it was in doubt there and those first documents carrying it changed (`RestripScope.shifted`). On the 1M
bench's night 2, walked lines alone made 19,211 candidates, 6 of which changed; with these marks and the
`twice_key`s below, the night's candidates fell 34,009 → 6,518, and of 93,000 documents re-cleaned none that
changed was left out (NOTES.md, session 44). A
page looks for variants in one model only on lines not counted `many` in the other (`model.lines_in_doubt`), so the
pages of a subsite do not walk its domain's model for their own menu (on the 1M bench's night 2, two such lines of
a domain's model, counted 9 → 8 and 8 → 7 against a threshold of 6, reached two thirds of the candidates).
Of the lines whose count class changed, those whose count only crossed 2 ("seen twice": below the threshold on
both sides) are read past their count only by the copy check and by a navigation block's question whether the line
is on two sampled documents, which a strip asks of few lines (a short, navigation-shaped one it walks past) and
stores apart (`model.twice_key`, with the mark `model.TWICE_KEYED`). Such lines (`RestripScope.twice`) make
candidates only of the documents that asked, those stored without `NO_COPY_CHECK`, and those stored without
`TWICE_KEYED` (read as having asked it of every line they looked up). On the 1M bench's night 2, 267 lines of a
large site's samples of 200, counted 1 → 2 or 2 → 1, reached ~10,000 documents of which none changed.

A line frequent on at least `min_known_pages` documents of a group is known there, and known lines are stripped
from the pages of every group: when a line becomes known or stops being known, every published document carrying
it is a candidate, whatever its group (a footer known from one site is stripped from the lone pages of its
neighbours). When it stays known but in other groups, a page reads that only as "known in a group other than
its own" (after a merge of its variants), so the documents carrying it in the groups it is or was known in are
candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks._shards import offload_each
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.lines import is_trivial, keys_of
from tasks.strip_boilerplate.model import (
    MERGE_MARKS,
    NO_COPIES,
    NO_COPY_CHECK,
    TWICE_KEYED,
    WALK_MARKS,
    PageSample,
    TemplateModels,
    domain_of,
    doubt_key,
    is_domain_group,
    sample_models,
    twice_key,
)


class _Touched(NamedTuple):
    """A changed group's touched lines by what may read them past their count class (`_touched_lines`)."""

    changed: frozenset[int]  # another count class, past "seen twice": any cleaning
    twice: frozenset[int]  # a count that only crossed 2: a page that asked, or checked for copies
    walked: frozenset[int]  # the same class: a page that looked for its variants here, or checked for copies
    rare: frozenset[int]  # counted below `least_read` on both sides: a page checked for copies
    low: frozenset[int]  # of `walked`, counted 2 or less on a side: also a page whose copy check found none
    shifted: frozenset[int]  # of `walked`, with other first carriers: also a walk that merged nothing


def _touched_lines(group: str, before, after, cfg: BoilerplateConfig) -> _Touched | None:
    """Fingerprints whose evidence may have changed in a group's model (module docstring), by what may read them
    (`_Touched`); None when every page of the group may strip differently (no model on one side, or another
    document count). A walk that merged nothing looked at no more than `strip_need` + 1 of the documents carrying
    each line in doubt (`_GroupModel.variants`), so a line whose first that many carriers stay (the same
    documents, unchanged) reads the same there; a copy check reads only the lines counted 2 or less (`copies_of`),
    and what else a copy found changes."""
    if before is None or after is None or before.n_pages != after.n_pages:
        return None
    domain = is_domain_group(group)
    top, least = after.many(cfg, domain), after.least_read(cfg)
    moved: set[int] = set()
    moved_docs: set[str] = set()
    for key in before.pages.keys() | after.pages.keys():
        lines_before, lines_after = before.pages.get(key), after.pages.get(key)
        if lines_before != lines_after or before.members.get(key) != after.members.get(key):
            moved.update(lines_before or (), lines_after or ())
            moved_docs.add(key)
    counts = {h: (before.counts.get(h, 0), after.counts.get(h, 0)) for h in moved}
    read = {h for h, (b, a) in counts.items() if min(b, a) < top}
    rare = frozenset(h for h in read if max(counts[h]) < least)
    classes = {h: (before.count_class(h, cfg, domain), after.count_class(h, cfg, domain)) for h in read}
    changed = frozenset(h for h, (b, a) in classes.items() if b != a)
    twice = frozenset(h for h in changed if classes[h][0][1:] == classes[h][1][1:])
    walked = frozenset(read) - changed - rare
    low = frozenset(h for h in walked if min(counts[h]) <= 2)
    looked = after.strip_need(cfg, domain) + 1

    def first_carriers(model, h: int) -> list[str]:
        return model.carrying.get(h, [])[:looked]

    shifted = frozenset(
        h
        for h in walked
        if (first := first_carriers(before, h)) != first_carriers(after, h) or not moved_docs.isdisjoint(first)
    )
    return _Touched(changed - twice, twice, walked, rare, low, shifted)


def page_keys(lines: list[str], cfg: BoilerplateConfig) -> set[int]:
    """Every fingerprint stripping can read of a page (each text line's, and its first words' when long)."""
    return {k for x in lines if not is_trivial(x) for k in keys_of(x, cfg.prefix_words)}


def of_groups(site: str | None, groups: Collection[str]) -> bool:
    """Whether a published document of `site` belongs to one of `groups` (as a site or by its registered domain)."""
    return bool(site) and (site in groups or domain_of(site) in groups)


def in_groups(sites: pa.Array | pa.ChunkedArray, groups: Collection[str]) -> pa.Array | pa.ChunkedArray:
    """`of_groups` over a column of sites (each distinct site judged once; a null site belongs to none)."""
    wanted = [site for site in pc.unique(sites).to_pylist() if of_groups(site, groups)]
    return pc.fill_null(pc.is_in(sites, pa.array(wanted, pa.string())), False)


@dataclass(frozen=True, slots=True)
class RestripScope:
    """The published documents to strip again tonight: the candidates (`may_change`) among those `read`. `whole`:
    groups any page of which may strip differently; `touched`: per other group, the lines whose evidence changed
    there (touched in its sample with another count class, or known in it on either side with other known groups
    tonight); `known`: lines known on one side only (in any group); `rare`: per group, touched lines counted below
    `least_read` on both sides, which only a page checked for copies reads (stored without `model.NO_COPY_CHECK`);
    `walked`: per group, the other touched lines whose count class stayed, which only a page checked for copies
    or looking for its variants in that group's model reads past their count (stored without `NO_COPY_CHECK` or
    without the group's walk mark; `low`, of them, those counted 2 or less on a side, which a copy check that found
    none reads, and `shifted`, those whose first carriers changed, which a walk that merged nothing reads when in
    doubt on them: without `model.NO_COPIES`, without the group's merge mark, or with the line's `doubt_key`);
    `twice`: per group, the touched lines whose count only crossed 2, which only a page checked for copies or that
    asked whether they are seen twice reads past their count (stored with their `model.twice_key`, or without
    `model.TWICE_KEYED`); `every`: every published document is a candidate (`EVERY_DOCUMENT`: `--restrip all`, or
    after deferred runs that recorded no table versions; after others, `scope_since`)."""

    whole: frozenset[str]
    touched: dict[str, frozenset[int]]
    known: frozenset[int]
    every: bool = False
    rare: dict[str, frozenset[int]] = field(default_factory=dict)
    walked: dict[str, frozenset[int]] = field(default_factory=dict)
    twice: dict[str, frozenset[int]] = field(default_factory=dict)
    low: dict[str, frozenset[int]] = field(default_factory=dict)
    shifted: dict[str, frozenset[int]] = field(default_factory=dict)
    _lookup: _ScopeLines | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def groups(self) -> frozenset[str]:
        """The groups whose documents may strip differently through their own models."""
        lines = (self.touched, self.rare, self.walked, self.twice)
        return self.whole | frozenset(g for found in lines for g, keys in found.items() if keys)

    @property
    def empty(self) -> bool:
        return not self.every and not self.groups and not self.known

    def read(self, sites: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """Which published documents (their `site`) hold candidates: those of `groups`, every one when a line
        became known or stopped being known (or with `every`)."""
        if self.known or self.every:
            return pa.array(np.ones(len(sites), dtype=bool), pa.bool_())
        return in_groups(sites, self.groups)

    def may_change(self, group: str, lines: list[str], cfg: BoilerplateConfig) -> bool:
        """Whether a page of `group` (its `lines`) may strip differently tonight, whatever its cleaning looked up (its
        rare and walked lines count too); its lines are fingerprinted only when some line of its groups is
        touched."""
        own = (group, domain_of(group))
        if self.every or not self.whole.isdisjoint(own):
            return True
        touched = [found for g in own if (found := self.lines_of(g))] + ([self.known] if self.known else [])
        if not touched:
            return False
        keys = page_keys(lines, cfg)
        return any(not keys.isdisjoint(found) for found in touched)

    def lines_of(self, group: str) -> frozenset[int]:
        """Every line of `group` whose evidence changed tonight (touched, rare, walked and seen twice)."""
        empty: frozenset[int] = frozenset()
        found = (self.touched, self.rare, self.walked, self.twice)
        return frozenset().union(*(lines.get(group, empty) for lines in found))

    def _lines(self) -> _ScopeLines:
        """The scope's lines as one lookup, built once (a worker tests many batches against it)."""
        if self._lookup is None:
            asked = {g: frozenset(map(twice_key, lines)) for g, lines in self.twice.items()}
            doubted = {g: frozenset(doubt_key(h, is_domain_group(g)) for h in hs) for g, hs in self.shifted.items()}
            kinds = (self.touched, self.rare, self.walked, self.low, self.twice, asked, doubted)
            object.__setattr__(self, "_lookup", _ScopeLines(kinds, self.known))
        return self._lookup

    def candidates(self, docs: pa.Table) -> pa.Array:
        """The candidates among published documents (`site`, `line_keys`) as one Arrow test on their stored
        fingerprints (those cleaning read: among `may_change`'s), the stored site being the page's group
        (pages._strip_row writes both): one of them touched, one of the rare lines when `NO_COPY_CHECK` is not among
        them, one of a group's walked lines when `NO_COPY_CHECK` or the group's walk mark is not, or the `twice_key`
        of one of its lines crossing 2, or such a line when `NO_COPY_CHECK` or `TWICE_KEYED` is not (documents stored
        before the marks existed are read as checked for copies, walking every model and asking "seen twice" of
        every line). A document without them
        is kept (True), for `may_change` to decide on its lines. One pass over the batch's fingerprints, whatever
        its number of sites (`_ScopeLines`)."""
        if self.every:
            return pa.array(np.ones(docs.num_rows, dtype=bool), pa.bool_())
        keys, sites = docs["line_keys"].combine_chunks(), docs["site"].combine_chunks()
        out = pc.or_(pc.is_null(keys), pc.is_null(sites)).to_numpy(zero_copy_only=False).astype(bool)
        encoded = pc.dictionary_encode(sites)
        names = [(site, domain_of(site)) for site in encoded.dictionary.to_pylist()]
        site_of_row = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        whole = np.array([not self.whole.isdisjoint(own) for own in names] + [False], dtype=bool)
        out |= whole[site_of_row]  # -1: the last, a null site
        flat = pc.fill_null(pc.list_flatten(keys), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        parent = pc.list_parent_indices(keys).to_numpy(zero_copy_only=False).astype(np.int64)
        site_of_key = site_of_row[parent]

        def rows_where(hit: np.ndarray) -> np.ndarray:
            rows = np.zeros(len(out), dtype=bool)
            rows[parent[hit]] = True
            return rows

        checked = ~rows_where(flat == NO_COPY_CHECK)
        copies_found = checked & ~rows_where(flat == NO_COPIES)
        asked_apart = rows_where(flat == TWICE_KEYED)
        marked = {mark: rows_where(flat == mark) for mark in (*WALK_MARKS, *MERGE_MARKS)}
        hit = rows_where(np.isin(flat, self._lines().known))
        for side in (0, 1):  # the page's site's group, then its domain's
            groups = [own[side] for own in names]
            kinds = self._lines().kinds(groups, flat, site_of_key)
            touched, rare, walked, low, twice, asked_twice, doubted_shifted = (
                rows_where(kinds & (1 << bit) != 0) for bit in range(len(_LINE_KINDS))
            )
            walking = ~_marked(groups, WALK_MARKS, marked, site_of_row)
            merged = walking & ~_marked(groups, MERGE_MARKS, marked, site_of_row)
            hit |= touched | (rare & checked) | (low & checked) | (walked & (copies_found | merged)) | doubted_shifted
            hit |= asked_twice | (twice & (checked | ~asked_apart))
        return pa.array(out | hit, pa.bool_())


def _marked(groups: list[str], marks: tuple[int, int], marked: dict[int, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Which rows hold the mark of their site's group on one side (`groups`: each site's group; `marks`: a site
    group's mark, a domain group's; `marked`: the rows holding each mark; `rows`: each row's site, -1 for none)."""
    domain = np.array([is_domain_group(g) for g in groups] + [False], dtype=bool)[rows]
    return np.where(domain, marked[marks[1]], marked[marks[0]])


# what `_ScopeLines` tells apart, one bit each, in RestripScope.candidates' order: its touched, rare, walked, low,
# twice lines, the twice keys of its twice lines, the doubt keys of its shifted lines
_LINE_KINDS = ("touched", "rare", "walked", "low", "twice", "asked_twice", "doubted_shifted")


class _ScopeLines:
    """A scope's lines per group, of every kind (`kinds`, in `_LINE_KINDS` order), as one sorted array of
    fingerprints with their group's code folded in and a bit per kind: a batch's fingerprints are looked up once
    a side, whatever the number of kinds and groups (a collision only adds a candidate). Built once per scope: on
    1M documents, building a lookup per batch and kind cost more than the test."""

    def __init__(self, kinds: tuple[dict[str, frozenset[int]], ...], known: frozenset[int]) -> None:
        self.known = np.fromiter(known, np.int64, len(known))
        self.code = {
            g: i + 1 for i, g in enumerate(sorted({g for lines in kinds for g, found in lines.items() if found}))
        }
        folded, bits = [np.zeros(0, np.uint64)], [np.zeros(0, np.uint8)]
        for bit, lines in enumerate(kinds):
            for group, found in lines.items():
                keys = np.fromiter(found, np.int64, len(found)).view(np.uint64)
                folded.append(_fold(keys, np.full(len(keys), self.code.get(group, 0), np.uint64)))
                bits.append(np.full(len(keys), 1 << bit, np.uint8))
        keys, kind_bits = np.concatenate(folded), np.concatenate(bits)
        order = np.argsort(keys, kind="stable")
        self.keys, first = np.unique(keys[order], return_index=True)
        self.bits = np.bitwise_or.reduceat(kind_bits[order], first) if len(first) else kind_bits

    def kinds(self, groups: list[str], flat: np.ndarray, site_of_key: np.ndarray) -> np.ndarray:
        """The kind bits of each of a batch's fingerprints (`flat`; `site_of_key`: the site of each, -1 for none;
        `groups`: each site's group on one side): those of the kinds it is a line of in its site's group."""
        site_code = np.array([self.code.get(g, 0) for g in groups] + [0], dtype=np.uint64)
        codes = site_code[site_of_key]
        out = np.zeros(len(flat), np.uint8)
        if not len(self.keys) or not codes.any():
            return out
        folded = _fold(flat.view(np.uint64), codes)
        at = np.minimum(np.searchsorted(self.keys, folded), len(self.keys) - 1)
        found = (self.keys[at] == folded) & (codes != 0)
        out[found] = self.bits[at[found]]
        return out


_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # an odd constant: distinct group codes fold a line apart


def _fold(keys: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Fingerprints with their group's code folded in (uint64 arrays, wrapping)."""
    return keys ^ (codes * _SPREAD)


def _known_changed(
    before: TemplateModels, after: TemplateModels, changed: set[str]
) -> tuple[frozenset[int], dict[str, set[int]]]:
    """Lines whose known groups changed (`before` holds the models of the `changed` groups only, the others' are
    the same on both sides): those known on one side only, which every page carrying them reads (`known`); and
    per group, the lines known in it on either side whose known groups changed otherwise. Those a page reads only
    as known in a group other than its own (`TemplateModels.known_elsewhere`), which changes only for the pages
    of a group the line is or was known in."""
    empty: frozenset[str] = frozenset()
    flips: set[int] = set()
    moves: dict[str, set[int]] = {}
    for h in before.known_in.keys() | after.known_in.keys():
        now = after.known_in.get(h, empty)
        was = before.known_in.get(h, empty) | (now - changed)
        if was == now:
            continue
        if not was or not now:
            flips.add(h)
            continue
        for group in was | now:
            moves.setdefault(group, set()).add(h)
    return frozenset(flips), moves


def union_of(scopes: Sequence[RestripScope]) -> RestripScope:
    """One scope whose candidates include each of `scopes`' (a line of a kind in any is of that kind here; every
    test of `candidates` and `may_change` grows with its sets, so the union finds at least what each finds)."""
    if len(scopes) == 1:
        return scopes[0]

    def joined(kind: str) -> dict[str, frozenset[int]]:
        found: dict[str, frozenset[int]] = {}
        for scope in scopes:
            for group, lines in getattr(scope, kind).items():
                found[group] = found.get(group, frozenset()) | lines
        return found

    return RestripScope(
        frozenset().union(*(s.whole for s in scopes)),
        joined("touched"),
        frozenset().union(*(s.known for s in scopes)),
        every=any(s.every for s in scopes),
        **{kind: joined(kind) for kind in ("rare", "walked", "twice", "low", "shifted")},
    )


NOTHING_TO_RESTRIP = RestripScope(frozenset(), {}, frozenset())
EVERY_DOCUMENT = RestripScope(frozenset(), {}, frozenset(), every=True)


def restrip_scope(
    stored: pa.Table, sample: PageSample, night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> RestripScope:
    """What to strip again tonight; `stored`: the sample as it was before tonight (`boilerplate_pages`);
    `night_models`: tonight's models (the re-strip uses them too: called only when a group's sample changed)."""
    return scope_of_changed(stored, sample.changed_groups(), night_models, cfg)


def groups_changed_since(before: pa.Table, night: dict[str, list[str]], cfg: BoilerplateConfig) -> set[str]:
    """The groups whose sample tonight (`night`: `PageSample.keys`) differs from the one in `before` (the
    `boilerplate_pages` table as an earlier run left it; its bottom-k keys as PageSample admits them, from the
    site and page_key columns only)."""
    was = PageSample(before.select(["site", "page_key"]), cfg).keys
    return {g for g in was.keys() | night.keys() if was.get(g, []) != night.get(g, [])}


def scope_since(
    befores: Sequence[tuple[pa.Table, set[str]]], night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> RestripScope:
    """What to strip again tonight when published documents were stripped under several older samples (after
    nights that deferred their re-strip: the sample of the last run that re-stripped, and of each deferred night
    since, whose own pages it stripped), each with the groups whose sample changed since (`groups_changed_since`):
    the union of the scopes from each to tonight's models (`union_of`). A document's cleaning is that of one of
    those samples, so its candidacy under the scope of that one is covered. The scopes are found side by side on
    the run's worker processes when it has them (`offload_each`: each builds its sample's models, ~0.35 ms a
    sampled page; a week of deferred nights at 100k pages took 17.9 s one after the other)."""
    return union_of(offload_each(scope_of_changed, befores, night_models, cfg))


def scope_of_changed(
    stored: pa.Table, changed: set[str], night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> RestripScope:
    """`restrip_scope` from the groups whose sample changed tonight (`PageSample.changed_groups`): what a process
    of its own needs to be sent (tasks/_shards.apart), not the whole sample."""
    if not changed:
        return NOTHING_TO_RESTRIP
    before = sample_models(stored.filter(pc.is_in(stored["site"], pa.array(sorted(changed), pa.string()))), cfg)
    after = night_models()
    touched = {g: _touched_lines(g, before.groups.get(g), after.groups.get(g), cfg) for g in changed}
    whole = frozenset(g for g, found in touched.items() if found is None)
    known, moved = _known_changed(before, after, changed)
    read = {g: kinds.changed for g, kinds in touched.items() if kinds is not None}
    lines = {g: read.get(g, frozenset()) | moved.get(g, set()) for g in (changed | moved.keys()) - whole}
    found = {g: kinds for g, kinds in touched.items() if kinds is not None}

    def each(kind: str) -> dict[str, frozenset[int]]:
        return {g: left for g, kinds in found.items() if (left := getattr(kinds, kind) - lines[g])}

    return RestripScope(
        whole,
        lines,
        known,
        rare=each("rare"),
        walked=each("walked"),
        twice=each("twice"),
        low=each("low"),
        shifted=each("shifted"),
    )
