"""Deliver pages to the pipeline in the shapes users dump them in, and print figures of several shapes side by side.

Shapes (`write_delivery`):
- `jsonl`: one `pages.jsonl`, a `{"url", "text"}` object a line (source_uri `pages.jsonl#line=N`);
- `txt`: one `pNNNN.txt` per page (NNNN = the page's 0-based index), no header block and so no URL, the text
  byte for byte as given (source_uri `pNNNN.txt`; ingest keys such a page by that path under raw/).

Both shapes carry the same texts; only the URL and the framing differ, so a figure that moves between them
measures what the pipeline takes from the URL.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHAPES = ("jsonl", "txt")


def write_delivery(pages: list[dict], shape: str, raw: Path) -> dict[str, int]:
    """Write `pages` ({"url", "text"}) into the folder `raw` in `shape`; returns source_uri → page index."""
    if shape == "jsonl":
        with (raw / "pages.jsonl").open("w", encoding="utf-8", newline="") as fh:
            for page in pages:
                fh.write(json.dumps({"url": page.get("url"), "text": page["text"]}, ensure_ascii=False) + "\n")
        return {f"pages.jsonl#line={i + 1}": i for i in range(len(pages))}
    if shape == "txt":
        index = {}
        for i, page in enumerate(pages):
            name = f"p{i:04d}.txt"
            (raw / name).write_text(page["text"], encoding="utf-8", newline="")
            index[name] = i
        return index
    raise ValueError(f"unknown shape {shape!r}: expected one of {SHAPES}")


def add_shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shape", choices=(*SHAPES, "both"), default="both", help="how the pages are delivered (default: both)"
    )


def chosen_shapes(value: str) -> tuple[str, ...]:
    return SHAPES if value == "both" else (value,)


def add_set_option(parser: argparse.ArgumentParser, sets: tuple[str, ...], config: str) -> None:
    """`--set SET|FIELD=VALUE`, repeatable: an evaluation set, or overrides of the stage's `config` class."""
    parser.add_argument(
        "--set", action="append", default=[], metavar="SET|FIELD=VALUE", help=f"one of {sets}, or a {config} override"
    )


def split_set_option(values: list[str], sets: tuple[str, ...]) -> tuple[str, list[str]]:
    """`--set` holds either the name of an evaluation set or FIELD=VALUE config overrides (the older use)."""
    names = [v for v in values if "=" not in v]
    unknown = [n for n in names if n not in sets]
    if unknown or len(names) > 1:
        raise SystemExit(f"--set: expected one of {sets} or FIELD=VALUE, got {names}")
    return (names[0] if names else sets[0]), [v for v in values if "=" in v]


def cell(value) -> str:
    """A table cell: ratios with three decimals, counts as integers, missing as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def side_by_side(
    key_header: list[str],
    metric_header: list[str],
    by_shape: dict[str, dict[tuple, list]],
    title: str = "",
    order: Callable[[tuple], Any] | None = None,
) -> str:
    """One table: the key columns, then the metric columns once per shape (rows: union of the shapes' keys).

    by_shape: shape → {row key (tuple of key cells) → metric values}; `order` sorts the rows by key."""
    keys: list[tuple] = []
    for rows in by_shape.values():
        keys += [k for k in rows if k not in keys]
    if order is not None:
        keys.sort(key=order)
    shapes = list(by_shape)
    n_key, n_metric = len(key_header), len(metric_header)
    header = [*key_header, *(m for _ in shapes for m in metric_header)]
    body = [
        [cell(k) for k in key] + [cell(v) for s in shapes for v in by_shape[s].get(key, [None] * n_metric)]
        for key in keys
    ]
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header))]
    spans = [range(n_key + g * n_metric, n_key + (g + 1) * n_metric) for g in range(len(shapes))]
    for shape, span in zip(shapes, spans, strict=True):  # a group is at least as wide as its banner
        widths[span[-1]] += max(0, len(shape) + 2 - sum(widths[c] for c in span) - n_metric + 1)

    def line(row: list[str]) -> str:
        left = " ".join(row[c].ljust(widths[c]) if c == 0 else row[c].rjust(widths[c]) for c in range(n_key))
        return " | ".join([left, *(" ".join(row[c].rjust(widths[c]) for c in span) for span in spans)])

    banner = [" " * (sum(widths[:n_key]) + n_key - 1)]
    banner += [
        f" {s} ".center(sum(widths[c] for c in span) + n_metric - 1, "-") for s, span in zip(shapes, spans, strict=True)
    ]
    out = [title] if title else []
    return "\n".join([*out, " | ".join(banner), line(header), *(line(r) for r in body)])
