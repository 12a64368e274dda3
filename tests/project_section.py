"""A generated project section: pages of one site in the seeds' layout (seed 001's menu, a title, a key/value
block, a body), with short and long titles, missing values and the bullet layout."""

from __future__ import annotations

from pathlib import Path

from helpers import SEEDS

LABELS = (
    "Start Date",
    "End Date",
    "Project Status",
    "Project Type",
    "Budget Amount (USD)",
    "Coverage",
    "Year",
    "IDF Region",
    "Prima ID",
    "Projects ID",
    "Benefiting Member States",
)
_TOPICS = ("Border Data Systems Pilot", "Migrant Health Review", "Diaspora Mapping", "Labour Migration Dialogue")
_COUNTRIES = ("Mongolia", "Kenya", "Peru", "Ghana", "Nepal", "Chile")
_REGIONS = ("Asia and Oceania", "Africa and Middle East", "Latin America and the Caribbean")


def seed_menu() -> list[str]:
    """The template lines in front of the title of the seeds' project page."""
    lines = next(SEEDS.glob("001_*.txt")).read_text().splitlines()
    return lines[: lines.index("Start Date") - 2]


def project_values(n: int) -> dict[str, str | None]:
    """Field values of page `n` (every seventh page lacks its budget, every fifth its coverage, every sixth its
    benefiting states: the block's last label then has the description's prose right below it)."""
    start = 2010 + n % 8
    return {
        "Start Date": str(start),
        "End Date": str(start + 2),
        "Project Status": ("Completed", "Active")[n % 2],
        "Project Type": ("Immigration and Borders", "Labour Migration", "Migration Health")[n % 3],
        "Budget Amount (USD)": None if n % 7 == 3 else f"{100000 + 2500 * n}.00",
        "Coverage": None if n % 5 == 2 else ("National", "Regional")[n % 2],
        "Year": str(start),
        "IDF Region": _REGIONS[n % 3],
        "Prima ID": f"PX{n:02d}P00{n % 9}",
        "Projects ID": f"TC.{700 + n}",
        "Benefiting Member States": None if n % 6 == 5 else _COUNTRIES[n % len(_COUNTRIES)],
    }


def project_title(n: int) -> str:
    """Unique titles: long ones on every third page, short ones (2–5 words) on the others."""
    country = _COUNTRIES[n % len(_COUNTRIES)]
    topic = _TOPICS[n // len(_COUNTRIES) % len(_TOPICS)]
    if n % 3 == 0:  # long titles too
        return f"Strengthening the {topic} of the Government of {country}, Phase {n // 3 + 1}"
    return f"{country} {topic}" if n % 3 == 1 else f"{topic} {n // 3 + 1}"


def project_page(n: int) -> str:
    """Page `n` of the section: the dash layout, or the bullet layout on every fourth page."""
    values = project_values(n)
    if n % 4 == 3:
        block = [line for k, v in values.items() for line in (f"  • {k}", *([f"    {v}"] if v else []))]
    else:
        block = [line for k, v in values.items() for line in ("-", k, *([v] if v else []))]
    country = _COUNTRIES[n % len(_COUNTRIES)]
    body = [
        f"Project {n} helps the Government of {country} with {12 + n} workshops for {40 + 3 * n} officials.",
        f"Its {n + 2} training sessions in {values['Start Date']} follow a request from ministry number {n * 7 + 1}.",
    ]
    return "\n".join([*seed_menu(), project_title(n), *block, *body]) + "\n"


def write_project_section(raw: Path, n_pages: int) -> list[Path]:
    """`n_pages` project pages as .txt files without URL in `raw`."""
    raw.mkdir(parents=True, exist_ok=True)
    paths = [raw / f"project_{n:02d}.txt" for n in range(n_pages)]
    for n, path in enumerate(paths):
        path.write_text(project_page(n))
    return paths
