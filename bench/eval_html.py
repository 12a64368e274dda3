"""Score the HTML path (ingest → strip_boilerplate) on ../shared/benchmarks/article-extraction.

The benchmark's metric: `\\w+` tokens, overlapping 4-token shingles with counts; per page TP/FP/FN normalised to
sum to 1; precision and recall are means over pages (precision undefined — skipped — where nothing is predicted,
recall 0 there); F1 from the two means. Published: trafilatura 0.958 F1, best (a commercial ML extractor) 0.970.

    .venv/bin/python bench/eval_html.py                 # the stage path, with pages/s of strip_boilerplate
    .venv/bin/python bench/eval_html.py --steps         # what each step of html_to_text adds (one switched off)
    .venv/bin/python bench/eval_html.py --warehouse WH  # documents.text of a real `docpipe run --raw` warehouse
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import math
import re
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from _corpus import ROOT

from schemas import BOILERPLATE_PAGES, DOCUMENTS, INGESTED_FILES
from tasks._warehouse import read_current
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate
from tasks.strip_boilerplate.html import HtmlConfig, html_to_text

DEFAULT_BENCH = ROOT.parent / "shared" / "benchmarks" / "article-extraction"
_TOKEN = re.compile(r"\w+", re.UNICODE)

# each step of html_to_text switched off by one config value (bench --steps)
STEPS_OFF = {
    "arbitration (third opinion when primary and readability disagree)": {"max_disagreement_f1": 0.0},
    "fill (readability's prose lines the primary lacks)": {"min_fill_ratio": math.inf},
    "title lines dropped": {"drop_title_lines": False},
    "link-dense lines dropped": {"min_link_share": math.inf},
}


def shingles(text: str, n: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(0, len(tokens) - n + 1)))


def page_scores(predicted: str, truth: str) -> tuple[float, float, float]:
    """(tp, fp, fn) of one page, normalised to sum to 1."""
    pred, true = shingles(predicted), shingles(truth)
    tp = sum((pred & true).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def evaluate(predictions: dict[str, str], truth: dict[str, dict]) -> tuple[float, float, float]:
    precisions, recalls = [], []
    for key, item in truth.items():
        tp, fp, fn = page_scores(predictions.get(key, ""), item["articleBody"])
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        recalls.append(tp / (tp + fn) if tp + fn else 0.0)
    p = sum(precisions) / len(precisions)
    r = sum(recalls) / len(recalls)
    return p, r, 2 * p * r / (p + r)


def page_key(source_uri: str) -> str:
    """The benchmark key of a page from its source_uri (`<key>.html`, possibly under a folder)."""
    return Path(source_uri).name.removesuffix(".html")


def unpack(bench: Path, raw: Path) -> None:
    """The benchmark's pages as plain `.html` files in `raw`."""
    for page in sorted((bench / "html").glob("*.html.gz")):
        (raw / page.name[:-3]).write_bytes(gzip.decompress(page.read_bytes()))


def report(label: str, predictions: dict[str, str], truth: dict[str, dict], pages_per_s: float | None = None) -> None:
    p, r, f1 = evaluate(predictions, truth)
    speed = f"  {pages_per_s:5.1f} pages/s" if pages_per_s else ""
    print(f"{label:74s} precision {p:.3f}  recall {r:.3f}  F1 {f1:.4f}{speed}")


def stage_path(bench: Path, truth: dict[str, dict], steps: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        unpack(bench, Path(tmp))
        pages = ingest_dumps(Path(tmp), INGESTED_FILES.empty(), IngestConfig(), "eval", datetime.now(UTC)).kept
    start = time.perf_counter()
    clean = strip_boilerplate(pages, BOILERPLATE_PAGES.empty(), BoilerplateConfig())
    seconds = time.perf_counter() - start
    predictions = {page_key(row["source_uri"]): row["text"] for row in clean.kept.to_pylist()}
    print(f"pages {len(truth)}  predicted {len(predictions)}  quarantined {clean.quarantined.num_rows}")
    print(f"strip_boilerplate {pages.num_rows / seconds:.1f} pages/s")
    report("stage path (ingest → strip_boilerplate)", predictions, truth)
    if not steps:
        return
    rows = pages.to_pylist()
    variants = {
        "primary only (trafilatura favor_precision)": _all_steps_off(),
        "all steps (html_to_text)": HtmlConfig(),
    }
    variants |= {f"all but {label}": dataclasses.replace(HtmlConfig(), **off) for label, off in STEPS_OFF.items()}
    for label, cfg in variants.items():
        predictions, pages_per_s = _direct(rows, cfg)
        report(label, predictions, truth, pages_per_s)


def _all_steps_off() -> HtmlConfig:
    off = {name: value for change in STEPS_OFF.values() for name, value in change.items()}
    return dataclasses.replace(HtmlConfig(), **off)


def _direct(rows: list[dict], cfg: HtmlConfig) -> tuple[dict[str, str], float]:
    """html_to_text on each page under `cfg`, and its pages/s."""
    start = time.perf_counter()
    predictions = {page_key(row["source_uri"]): html_to_text(row["raw_html"], row["url"], cfg)[0] for row in rows}
    return predictions, len(rows) / (time.perf_counter() - start)


def warehouse_documents(warehouse: Path, truth: dict[str, dict]) -> None:
    docs = read_current(warehouse, DOCUMENTS, ["source_uri", "text"]).to_pylist()
    predictions = {page_key(doc["source_uri"]): doc["text"] or "" for doc in docs}
    matched = sum(1 for key in predictions if key in truth)
    print(f"pages {len(truth)}  documents {len(docs)}  matched {matched}")
    report(f"documents.text in {warehouse}", predictions, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--steps", action="store_true", help="also score html_to_text with each step switched off")
    parser.add_argument("--warehouse", type=Path, help="score documents.text of this warehouse instead")
    args = parser.parse_args()
    truth = json.loads((args.bench / "ground-truth.json").read_text())
    if args.warehouse:
        warehouse_documents(args.warehouse, truth)
    else:
        stage_path(args.bench, truth, args.steps)


if __name__ == "__main__":
    main()
