"""The project-section case: one site's project pages in the seeds' layout, with the truth (seeded, deterministic).

Every page: the site's menu (the labelled leading template run of a corpus project page, as in the seeds), the
title, the key/value block, the description. Built from the corpus project pages' real fields and bodies:
- round 0: each corpus project page's own title, fields and description;
- later rounds: the same projects for another country (title and benefiting state swapped), values missing in
  the source filled from a complete project with years shifted, new ids and budget, then 1–3 values dropped;
  titles alternate between short ones (3–4 words: 2–3 consecutive capitalised words of the long title and a
  kind such as "Pilot") and the long title; descriptions are the prose of other IOM pages of the corpus (each
  page its own, so the pages are no duplicates of each other);
- layouts alternate: `dash` (`-` / label / value lines, as ../shared/seeds/001_*.txt) and `bullet`
  (`  • Label` / `    value`, as the corpus's bullet pages); a missing value is a label without value line;
- two more pages break a `projects` rule: a negative budget, a start year after the end year.
The truth gives each page's title, doc_type (`project`), every field typed as the `projects` columns (None: no
value on the page) and, for the two bad pages, the columns of the rule they break.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from _syndicated import lead_run

from schemas.projects import DEPRECATED_COLUMNS

HOST = "devfund.example.org"
DOC_TYPE = "project"
# projects column → the label pages print (corpus and seed layout), in page order.
LABELS = {
    "start_year": "Start Date",
    "end_year": "End Date",
    "status": "Project Status",
    "project_type": "Project Type",
    "budget_usd": "Budget Amount (USD)",
    "coverage": "Coverage",
    "year": "Year",
    "idf_region": "IDF Region",
    "prima_id": "Prima ID",
    "projects_id": "Projects ID",
    "benefiting_member_states": "Benefiting Member States",
}
YEAR_COLUMNS = ("start_year", "end_year", "year")
COUNTRIES = ("Ghana", "Nepal", "Peru", "Jordan", "Senegal", "Ukraine", "Cambodia", "Ecuador", "Zambia", "Guatemala")
KINDS = ("Pilot", "Programme", "Project", "Initiative")


@dataclass(frozen=True)
class ProjectPage:
    url: str
    text: str
    title: str
    layout: str  # dash | bullet
    fields: dict[str, Any]  # projects column → typed value stated on the page (None: label without value)
    breaks: tuple[str, ...] = field(default=())  # projects columns of the rule the page breaks (bad pages only)
    doc_type: str = DOC_TYPE


def _render_value(column: str, value: Any, layout: str) -> str | None:
    if value is None:
        return None
    if column == "budget_usd":
        return f"{value:.2f}"
    if column == "benefiting_member_states":
        return (", " if layout == "dash" else " ").join(value)
    return str(value)


def render_block(values: dict[str, Any], layout: str) -> list[str]:
    """The key/value block in a layout; a None value prints the label alone."""
    lines: list[str] = [] if layout == "dash" else [""]
    for column, label in LABELS.items():
        shown = _render_value(column, values.get(column), layout)
        if layout == "dash":
            lines += ["-", label] + ([shown] if shown is not None else [])
        else:
            lines += [f"  • {label}"] + ([f"    {shown}"] if shown is not None else [])
    return lines if layout == "dash" else [*lines, ""]


def _description(label: dict) -> list[str]:
    """A corpus page's own prose: lines that are no template, contact, field, ignored or title line."""
    skip = {*label["boilerplate"], *label["contact"], *label["fields"], *label["ignore"], label["title_line"]}
    return [x for j, x in enumerate(label["lines"]) if j not in skip and len(re.findall(r"[^\W_]", x)) >= 3]


def _first_chars(lines: list[str], n_chars: int) -> list[str]:
    """The first lines holding at least `n_chars` characters."""
    out: list[str] = []
    for line in lines:
        out.append(line)
        if sum(map(len, out)) >= n_chars:
            break
    return out


def _slug(title: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", title.lower()))


def _swap_country(title: str, states: list[str] | None, country: str) -> str:
    """The title for another country: its benefiting state replaced, else its closing "in <Place>"."""
    for state in states or ():
        if state in title:
            return title.replace(state, country)
    swapped, n = re.subn(r" in (the )?[A-Z][\w ]+$", f" in {country}", title)
    return swapped if n else f"{title} in {country}"


def _short_title(long_title: str, country: str, rng: random.Random) -> str:
    """2–3 consecutive capitalised words of the long title (no country, no acronym) and a kind: 3–4 words."""
    words = [w for w in re.findall(r"[A-Z][\w-]+", long_title) if w not in country.split() and not w.isupper()]
    n = min(rng.choice((2, 3)), len(words))
    start = rng.randint(0, len(words) - n)
    return " ".join([*words[start : start + n], rng.choice(KINDS)])


def _varied(source: dict[str, Any], donor: dict[str, Any], country: str, rng: random.Random) -> dict[str, Any]:
    """The source's values for another country: gaps filled from the donor, years shifted, new ids and budget,
    then 1–3 values dropped."""
    values = {c: source.get(c) if source.get(c) is not None else donor.get(c) for c in LABELS}
    shift = rng.randint(-3, 3)
    for column in YEAR_COLUMNS:
        values[column] = values[column] + shift if values[column] is not None else None
    values["budget_usd"] = float(rng.choice((75000, 120000, 150000, 198267, 200000, 250000)))
    values["projects_id"] = f"{(values['projects_id'] or 'TC.0').split('.')[0]}.{rng.randint(100, 999):04d}"
    values["prima_id"] = f"{country[:2].upper()}10P{rng.randint(1, 99):04d}"
    values["benefiting_member_states"] = [country]
    for column in rng.sample(sorted(LABELS), rng.randint(1, 3)):
        values[column] = None
    return values


def as_columns(project: dict[str, Any] | None) -> dict[str, Any]:
    """A corpus label's project fields under today's `projects` columns (labels name the years `*_date`)."""
    return {DEPRECATED_COLUMNS.get(k, k): v for k, v in (project or {}).items()}


def build_project_section(labels: list[dict], seed: int = 13, n_pages: int = 22) -> list[ProjectPage]:
    """`n_pages` good project pages of one site, then the negative-budget page and the start-after-end page."""
    rng = random.Random(seed)
    projects = [as_columns(label["project"]) for label in labels]
    sources = [i for i, label in enumerate(labels) if label["project"] and label["title"]]
    complete = [i for i in sources if all(projects[i].get(c) is not None for c in YEAR_COLUMNS)]
    with_menu = [i for i in sources if lead_run(labels[i]) >= 4]
    menu = labels[with_menu[0]]["lines"][: lead_run(labels[with_menu[0]])]
    borrowed = [
        i
        for i, label in enumerate(labels)
        if label["bp_scored"]
        and label["language"] == "en"
        and not label["project"]
        and label["site"].endswith("iom.int")
        and len(" ".join(_description(label)).split()) >= 80
    ]
    bodies = iter(rng.sample(borrowed, min(len(borrowed), n_pages + 2)))
    countries = iter(rng.sample(COUNTRIES, len(COUNTRIES)) * (n_pages // len(COUNTRIES) + 2))
    pages: list[ProjectPage] = []
    titles: set[str] = set()
    for k in range(n_pages + 2):
        source = labels[sources[k % len(sources)]]
        layout = ("dash", "bullet")[(k + k // len(sources)) % 2]
        if k < len(sources):
            title, values, body = source["title"], dict(projects[sources[k % len(sources)]]), _description(source)
            values.setdefault("prima_id", None)
        else:
            country = next(countries)
            donor = projects[rng.choice(complete)]
            values = _varied(projects[sources[k % len(sources)]], donor, country, rng)
            long_title = _swap_country(source["title"], source["project"].get("benefiting_member_states"), country)
            title = _short_title(long_title, country, rng) if k % 2 else long_title
            for _ in range(20):  # titles of one site differ
                if title not in titles:
                    break
                title = _short_title(long_title, country, rng)
            body = _first_chars(_description(labels[next(bodies)]), 700)
        breaks: tuple[str, ...] = ()
        if k == n_pages:
            values["budget_usd"], breaks = -abs(values["budget_usd"] or 150000.0), ("budget_usd",)
        elif k == n_pages + 1:
            end = values["end_year"] or 2016
            values["start_year"], values["end_year"], breaks = end + 2, end, ("start_year", "end_year")
        titles.add(title)
        text = "\n".join([*menu, title, *render_block(values, layout), *body])
        pages.append(ProjectPage(f"https://{HOST}/project/{_slug(title)}", text, title, layout, values, breaks))
    return pages
