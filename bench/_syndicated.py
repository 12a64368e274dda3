"""The syndicated-copies set: corpus pages plus copies of their bodies in the shapes aggregators and archives make,
with the truth computed by brute force (seeded, deterministic).

Pages: every corpus page as delivered, plus, for `n_sampled` sampled pages P (hand-checked template, a body of
at least `min_body_words` words), these variants:
- `foreign_menu`: P's body (and contact block) under the leading template run of a page of another
  organisation (another registered domain), on a host seen once (what aggregators do with press releases);
- `rewrapped`: P with every run of body lines joined and re-wrapped at another width, at another address of P's
  host (a document-library copy);
- `edit_k<k>`: P with k body words replaced by corpus words, for each k of `edit_words`, each on a host of its
  own (a republication with edits; on P's host, several near-copies of one page would read as its template);
- `mirror`: P's text unchanged on another host;
and negatives that share a template but not a body:
- `language_version`: two pages of one new host, same slug under `/<lang>/`, same menu, bodies of two
  corpus pages in different languages (the corpus has no translated pair, so two unrelated bodies stand in);
- `shared_menu`: two unrelated corpus bodies of one language under the same menu on one new host.
Truth: Jaccard of word 3-gram shingle sets (`\\w+` tokens, case-folded) of the *label-clean bodies* (page lines
minus labelled boilerplate and contact lines; for a variant, the body it was built with), for every pair.
"""

from __future__ import annotations

import random
import re
import textwrap
from dataclasses import dataclass
from itertools import combinations
from urllib.parse import urlsplit

import numpy as np

_WORD = re.compile(r"\w+")
_ALNUM = re.compile(r"[^\W_]")
CORPUS_KIND = "corpus"


@dataclass(frozen=True)
class SetPage:
    url: str
    text: str
    body: str  # label-clean body: the truth is computed on it
    kind: str  # corpus, foreign_menu, rewrapped, edit_k<k>, mirror, language_version, shared_menu
    source: int  # index of the corpus page whose body it carries


@dataclass(frozen=True)
class SyndicatedSet:
    pages: list[SetPage]
    jaccard: np.ndarray  # pages × pages body Jaccard (diagonal 1)

    def delivery(self) -> list[dict]:
        """The pages as {"url", "text"}, for bench/_shapes.write_delivery."""
        return [{"url": p.url, "text": p.text} for p in self.pages]

    def pair_kind(self, i: int, j: int) -> str:
        """What a pair is: two corpus pages; a copy of one body (named after the copy's kind, or variant × variant);
        a built negative pair (same host, different bodies); or unrelated pages."""
        a, b = self.pages[i], self.pages[j]
        if a.kind == b.kind == CORPUS_KIND:
            return "corpus × corpus"
        if a.source == b.source:
            copies = [p.kind for p in (a, b) if p.kind != CORPUS_KIND]
            return f"copy: {copies[0]}" if len(copies) == 1 else "copy: variant × variant"
        if a.kind == b.kind and a.kind in NEGATIVE_KINDS and urlsplit(a.url).netloc == urlsplit(b.url).netloc:
            return f"{a.kind} pair"
        return "unrelated"


NEGATIVE_KINDS = ("language_version", "shared_menu")


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def body_jaccard(bodies: list[str]) -> np.ndarray:
    """Brute-force Jaccard of every pair of bodies' word 3-gram sets."""
    sets = [shingles(b) for b in bodies]
    out = np.eye(len(sets))
    for i, j in combinations(range(len(sets)), 2):
        shared = len(sets[i] & sets[j])
        union = len(sets[i]) + len(sets[j]) - shared
        out[i, j] = out[j, i] = shared / union if union else 0.0
    return out


def _is_trivial(line: str) -> bool:
    return len(_ALNUM.findall(line)) < 3


def lead_run(label: dict) -> int:
    """Number of lines in the page's labelled leading template run (trivial lines inside it included)."""
    template, n = set(label["boilerplate"]), 0
    for j, line in enumerate(label["lines"]):
        if j not in template and not _is_trivial(line):
            break
        if j in template:
            n = j + 1
    return n


def clean_body(label: dict) -> list[str]:
    drop = set(label["boilerplate"]) | set(label["contact"])
    return [line for j, line in enumerate(label["lines"]) if j not in drop]


def _domain(site: str) -> str:
    return ".".join(site.split(".")[-2:])


def _slug(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or "index"


def _rewrap(lines: list[str], body_at: set[int], width: int) -> tuple[list[str], list[str]]:
    """(lines, body lines): each run of consecutive body lines joined and wrapped at `width`, other lines kept."""
    out: list[str] = []
    body: list[str] = []
    run: list[str] = []
    for j, line in enumerate([*lines, None]):
        if j in body_at:
            run.append(line)
            continue
        if run:
            wrapped = textwrap.wrap(" ".join(run), width, break_long_words=False, break_on_hyphens=False)
            out += wrapped
            body += wrapped
            run = []
        if line is not None:
            out.append(line)
    return out, body


def _edit(
    lines: list[str], body_at: set[int], k: int, vocabulary: list[str], rng: random.Random
) -> tuple[list[str], list[str]]:
    """(lines, body lines): k body words (space-separated tokens with a letter or digit) replaced by corpus words."""
    words = [line.split(" ") for line in lines]
    spots = [(j, w) for j in sorted(body_at) for w, token in enumerate(words[j]) if _WORD.search(token)]
    for j, w in rng.sample(spots, min(k, len(spots))):
        old = words[j][w].casefold()
        words[j][w] = next(v for v in rng.sample(vocabulary, 3) if v != old)
    out = [" ".join(ws) for ws in words]
    return out, [out[j] for j in sorted(body_at)]


def build_syndicated(
    pages: list[dict],
    labels: list[dict],
    seed: int = 13,
    n_sampled: int = 30,
    edit_words: tuple[int, ...] = (1, 5, 20),
    n_negative_pairs: int = 10,
    min_body_words: int = 60,
) -> SyndicatedSet:
    """The set built from the corpus `pages` ({"url", "text"}) and their `labels` (same order)."""
    rng = random.Random(seed)
    bodies = ["\n".join(clean_body(label)) for label in labels]
    out = [SetPage(p["url"], p["text"], bodies[i], CORPUS_KIND, i) for i, p in enumerate(pages)]
    scored = [i for i, label in enumerate(labels) if label["bp_scored"] and len(bodies[i].split()) >= min_body_words]
    menus = [i for i in scored if lead_run(labels[i]) >= 4]
    vocabulary = sorted({w for i in scored for w in _WORD.findall(bodies[i].casefold()) if len(w) > 3})
    for n, i in enumerate(sorted(rng.sample(scored, min(n_sampled, len(scored))))):
        label, url = labels[i], pages[i]["url"]
        lines = label["lines"]
        template = set(label["boilerplate"])
        body_at = set(range(len(lines))) - template - set(label["contact"])
        host, slug = urlsplit(url).netloc, _slug(url)
        others = [t for t in menus if _domain(labels[t]["site"]) != _domain(label["site"])]
        menu = _menu(labels[rng.choice(others)])
        own = [line for j, line in enumerate(lines) if j not in template]
        out.append(
            SetPage(f"https://syndication-{n:02d}.example/news/{slug}", _text(menu + own), bodies[i], "foreign_menu", i)
        )
        wrapped, body = _rewrap(lines, body_at, rng.randint(50, 110))
        out.append(SetPage(f"https://{host}/library/{n:02d}/{slug}", _text(wrapped), "\n".join(body), "rewrapped", i))
        for k in edit_words:
            edited, body = _edit(lines, body_at, k, vocabulary, rng)
            out.append(
                SetPage(
                    urlsplit(url)._replace(netloc=f"edited-{k}-{n:02d}.example").geturl(),
                    _text(edited),
                    "\n".join(body),
                    f"edit_k{k}",
                    i,
                )
            )
        out.append(
            SetPage(
                urlsplit(url)._replace(netloc=f"mirror-{n:02d}.example").geturl(),
                pages[i]["text"],
                bodies[i],
                "mirror",
                i,
            )
        )
    out += _negatives(
        pages, labels, bodies, [i for i in scored if len(bodies[i].split()) <= 200], menus, rng, n_negative_pairs
    )
    return SyndicatedSet(out, body_jaccard([p.body for p in out]))


def _text(lines: list[str]) -> str:
    return "\n".join(lines)


def _menu(label: dict) -> list[str]:
    return label["lines"][: lead_run(label)]


def _negatives(
    pages: list[dict],
    labels: list[dict],
    bodies: list[str],
    short: list[int],
    menus: list[int],
    rng: random.Random,
    n_pairs: int,
) -> list[SetPage]:
    """Pairs of pages on one new host under one long menu whose bodies differ: two languages (same slug under
    `/<lang>/`), or one language."""
    long_menus = [t for t in menus if lead_run(labels[t]) >= 10]
    out: list[SetPage] = []
    for n in range(n_pairs):
        a = rng.choice(short)
        lang = labels[a]["language"]
        pools = {
            "language_version": [i for i in short if labels[i]["language"] not in (lang, None)],
            "shared_menu": [i for i in short if labels[i]["language"] == lang and i != a],
        }
        for kind, pool in pools.items():
            b, menu = rng.choice(pool), _menu(labels[rng.choice(long_menus)])
            host = f"{kind.replace('_', '-')}-{n:02d}.example"
            for i in (a, b):
                path = (
                    f"/{labels[i]['language']}/news/{_slug(pages[a]['url'])}"
                    if kind == "language_version"
                    else (f"/news/{i}-{_slug(pages[i]['url'])}")
                )
                own = [x for j, x in enumerate(labels[i]["lines"]) if j not in set(labels[i]["boilerplate"])]
                out.append(SetPage(f"https://{host}{path}", _text(menu + own), bodies[i], kind, i))
    return out
