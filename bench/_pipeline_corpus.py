"""The generated nightly crawl of bench_pipeline.py: pages built from the labelled corpus (seeded, deterministic).

Every page is one corpus page's site template around a new body:
- on top, the page's labelled leading template run (its site's menu; empty for the corpus's pages without one),
  at the bottom a footer of the site (a few link lines in the page's language and `© <year> <site>`: the corpus
  excerpts stop before their footers), under a new address of that site;
- a title and paragraphs of 2–5 sentences drawn from the bodies of corpus pages of the page's language (en, fr,
  es; the corpus's other languages have too few sentences to make distinct pages, so those sites get English
  bodies), up to a text size drawn around `page_kb`;
- `project_fraction` of the pages are project pages of one site: the menu, title and key/value block of the
  project section (bench/_project_section.py, both layouts, missing values, the two rule-breaking pages) over
  a new body;
- `copy_fraction` of the pages are copies of an earlier page at another address of its site: half exact, half
  with `edited_words` words replaced (near copies);
- `bad_fraction` (at least three a delivery) are bad records, in turn: empty text, a cut JSON line, a binary blob.
`PageStream.take(n)` continues the same stream, so a second night's new pages follow the first night's.
Deliveries (`write_raw`): `jsonl` (one `pages.jsonl`, bad lines written as they are) or `txt` (one file a page,
no URL: bench/_shapes.py's writer).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from _project_section import build_project_section, render_block
from _shapes import write_delivery
from _syndicated import lead_run
from bench_run import CORPUS, SENTENCE

MIN_POOL_SENTENCES = 100  # fewer, and two pages of the language share so many sentences they read as copies
FOOTERS = {
    "en": ("Contact us", "Privacy policy", "Terms of use", "Follow us"),
    "fr": ("Contactez-nous", "Politique de confidentialité", "Conditions d'utilisation", "Suivez-nous"),
    "es": ("Contáctenos", "Política de privacidad", "Condiciones de uso", "Síguenos"),
}
BAD_KINDS = ("empty", "cut_json", "binary")


@dataclass(frozen=True)
class SiteTemplate:
    site: str
    language: str  # language of the bodies put under this template
    menu: tuple[str, ...]
    footer: tuple[str, ...]


@dataclass(frozen=True)
class CorpusParts:
    templates: list[SiteTemplate]
    sentences: dict[str, list[str]]  # language → body sentences of the corpus
    project_heads: list[tuple[str, list[str]]]  # (url, menu + title + key/value block) of project pages


def _body_lines(label: dict) -> list[str]:
    """A corpus page's prose: no template, contact, field, ignored or title line."""
    skip = {*label["boilerplate"], *label["contact"], *label["fields"], *label["ignore"], label["title_line"]}
    return [line for j, line in enumerate(label["lines"]) if j not in skip]


def _project_heads(labels: list[dict], seed: int) -> list[tuple[str, list[str]]]:
    """Menu, title and block of the project section's pages (their corpus bodies are dropped)."""
    heads = []
    for page in build_project_section(labels, seed=seed, n_pages=60):
        lines = page.text.split("\n")
        end = lines.index(page.title) + 1 + len(render_block(page.fields, page.layout))
        heads.append((page.url, lines[:end]))
    return heads


def load_parts(seed: int) -> CorpusParts:
    """Templates, sentence pools and project heads from ../shared/corpus/labels.jsonl (read in place)."""
    labels = [json.loads(line) for line in (CORPUS.parent / "labels.jsonl").open(encoding="utf-8")]
    sentences: dict[str, list[str]] = {}
    for label in labels:
        pool = sentences.setdefault(label["language"] or "en", [])
        pool += [s.strip() for x in _body_lines(label) for s in SENTENCE.split(x) if len(s.split()) >= 6]
    sentences = {lang: sorted(set(pool)) for lang, pool in sentences.items() if len(set(pool)) >= MIN_POOL_SENTENCES}
    templates = []
    for label in labels:
        if not label["bp_scored"]:
            continue
        language = label["language"] if label["language"] in sentences else "en"
        menu = tuple(label["lines"][: lead_run(label)])
        footer = (*FOOTERS.get(language, FOOTERS["en"]), f"© 2024 {label['site']}") if menu else ()
        templates.append(SiteTemplate(label["site"], language, menu, footer))
    return CorpusParts(templates, sentences, _project_heads(labels, seed))


@dataclass
class PageStream:
    """Pages of a crawl, in delivery order; `take` continues where the last call stopped."""

    parts: CorpusParts
    seed: int = 7
    page_kb: float = 3.0
    project_fraction: float = 0.02
    copy_fraction: float = 0.025
    bad_fraction: float = 0.001
    edited_words: tuple[int, int] = (3, 6)
    pages: list[dict] = field(default_factory=list)  # every page so far ({"url", "text"}, `bad` on bad records)
    planted: dict[str, int] = field(default_factory=dict)  # kind → pages generated of that kind

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def take(self, n: int) -> list[dict]:
        """The next `n` records of the crawl."""
        n_bad = max(len(BAD_KINDS), round(n * self.bad_fraction))
        bad_at = {int((i + 0.5) * n / n_bad) for i in range(n_bad)}
        out = []
        for i in range(n):
            if i in bad_at:
                page = self._bad(BAD_KINDS[sum(self.planted.get(k, 0) for k in BAD_KINDS) % len(BAD_KINDS)])
            elif len(self.pages) > 50 and self.rng.random() < self.copy_fraction:
                page = self._copy()
            elif self.rng.random() < self.project_fraction:
                page = self._project()
            else:
                page = self._page()
            self.pages.append(page)
            out.append(page)
        return out

    def _count(self, kind: str) -> int:
        self.planted[kind] = self.planted.get(kind, 0) + 1
        return len(self.pages)

    def _body(self, language: str, target_chars: int) -> list[str]:
        pool, lines, size = self.parts.sentences[language], [], 0
        while size < target_chars:
            paragraph = " ".join(self.rng.sample(pool, self.rng.randint(2, 5)))
            lines.append(paragraph)
            size += len(paragraph) + 1
        return lines

    def _title(self, language: str) -> str:
        first, last = (self.rng.choice(self.parts.sentences[language]).split() for _ in range(2))
        return " ".join([*first[:5], *last[-3:]]).rstrip(".!?")

    def _target_chars(self) -> int:
        return int(self.rng.uniform(0.6, 1.4) * self.page_kb * 1024)

    def _page(self) -> dict:
        k = self._count("page")
        template = self.rng.choice(self.parts.templates)
        lines = [*template.menu, self._title(template.language)]
        size = sum(map(len, lines)) + sum(map(len, template.footer))
        lines += [*self._body(template.language, self._target_chars() - size), *template.footer]
        return {"url": f"https://{template.site}/bench/{k}", "text": "\n".join(lines), "language": template.language}

    def _project(self) -> dict:
        k = self._count("project")
        url, head = self.parts.project_heads[k % len(self.parts.project_heads)]
        body = self._body("en", self._target_chars() - sum(map(len, head)))
        return {"url": f"{url}-{k}", "text": "\n".join([*head, *body]), "language": "en"}

    def _copy(self) -> dict:
        original = self.rng.choice([p for p in self.pages[-1000:] if "bad" not in p])
        host = original["url"].split("/")[2]
        if self.rng.random() < 0.5:
            k, text = self._count("exact_copy"), original["text"]
        else:
            k, text = self._count("near_copy"), self._edited(original["text"], original["language"])
        return {"url": f"https://{host}/copy/{k}", "text": text, "language": original["language"]}

    def _edited(self, text: str, language: str) -> str:
        """`text` with a few words of its middle (never menu or footer lines) replaced by corpus words."""
        words = text.split(" ")
        lo, hi = len(words) * 2 // 5, len(words) * 4 // 5
        for at in self.rng.sample(range(lo, hi), self.rng.randint(*self.edited_words)):
            words[at] = self.rng.choice(self.rng.choice(self.parts.sentences[language]).split())
        return " ".join(words)

    def _bad(self, kind: str) -> dict:
        k = self._count(kind)
        url = f"https://{self.parts.templates[k % len(self.parts.templates)].site}/bench/{k}"
        if kind == "empty":
            return {"url": url, "text": "", "bad": kind}
        if kind == "cut_json":  # a line the crawler cut mid-record
            return {"url": url, "text": json.dumps({"url": url, "text": "Cut short"})[:-9], "bad": kind}
        blob = "".join(chr(self.rng.choice((0, 1, 2, 3, 7, 27, 127, 255))) for _ in range(512))
        return {"url": url, "text": blob, "bad": kind}


def write_raw(pages: list[dict], shape: str, raw: Path, name: str = "pages.jsonl") -> dict[str, int]:
    """Deliver `pages` into the folder `raw` (JSON Lines: as the file `name`); returns source_uri → page index (as
    bench/_shapes.py)."""
    raw.mkdir(parents=True, exist_ok=True)
    if shape != "jsonl":  # a file holding a cut JSON line is sniffed as a one-line dump: ingest locates it by line
        index = write_delivery(pages, shape, raw)
        return {(f"{uri}#line=1" if pages[i].get("bad") == "cut_json" else uri): i for uri, i in index.items()}
    with (raw / name).open("w", encoding="utf-8", newline="") as fh:
        for page in pages:  # cut and binary lines go as they are; an empty text is a valid record
            verbatim = page.get("bad") in ("cut_json", "binary")
            fh.write((page["text"] if verbatim else json.dumps({"url": page["url"], "text": page["text"]})) + "\n")
    return {f"{name}#line={i + 1}": i for i in range(len(pages))}
