"""Score the HTML path (ingest → strip_boilerplate) on ../shared/benchmarks/article-extraction.

The benchmark's metric: `\\w+` tokens, overlapping 4-token shingles with counts; per page TP/FP/FN normalised to
sum to 1; precision and recall are means over pages (precision undefined — skipped — where nothing is predicted,
recall 0 there); F1 from the two means. Published: trafilatura 0.958 F1.

    .venv/bin/python bench/eval_html.py [--bench ../shared/benchmarks/article-extraction] [--set favor_precision=0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from _corpus import ROOT, config_with

from schemas import BOILERPLATE_PAGES, INGESTED_FILES
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate

DEFAULT_BENCH = ROOT.parent / "shared" / "benchmarks" / "article-extraction"
_TOKEN = re.compile(r"\w+", re.UNICODE)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    truth = json.loads((args.bench / "ground-truth.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        for page in sorted((args.bench / "html").glob("*.html.gz")):
            (raw / page.name[:-3]).write_bytes(gzip.decompress(page.read_bytes()))
        pages = ingest_dumps(raw, INGESTED_FILES.empty(), IngestConfig(), "eval", datetime.now(UTC))
    clean = strip_boilerplate(pages.kept, BOILERPLATE_PAGES.empty(), config_with(BoilerplateConfig, args.set))
    predictions = {row["source_uri"].removesuffix(".html"): row["text"] for row in clean.kept.to_pylist()}
    p, r, f1 = evaluate(predictions, truth)
    print(f"pages {len(truth)}  predicted {len(predictions)}  quarantined {clean.quarantined.num_rows}")
    print(f"precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}")


if __name__ == "__main__":
    main()
