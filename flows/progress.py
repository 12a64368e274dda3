"""What a run shows while it works.

Every stage start and end is a line on the `docpipe.run` logger (records in, kept, quarantined, seconds,
records/s), which goes to the run's log file `_runs/<run_id>/run.log`, to Prefect's run log (the UI) when the
run is a Prefect flow run, and to the terminal when the CLI attached one (`show_on`). While a stage reads its
input, the records it has read (tasks/_progress.py) feed a live bar on a terminal (records, rate, ETA), or a
line every `PLAIN_EVERY_SECONDS` elsewhere (a log, a pipe, a scheduled run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tasks._progress import RUN_LOGGER, listening

LOG_FILE = "run.log"
PLAIN_EVERY_SECONDS = 30.0

log = logging.getLogger(RUN_LOGGER)
log.setLevel(logging.INFO)
log.propagate = False  # its own handlers: Prefect's console handler on the root logger would print it twice

_terminal: Console | None = None


def show_on(console: Console | None) -> None:
    """Print the run's lines (and, on a TTY, live bars) on `console`; None: log file and Prefect only."""
    global _terminal
    _terminal = console


class _PrefectRunLog(logging.Handler):
    """Forwards the run's lines to Prefect's run logger, so they show with the flow run in the UI."""

    def emit(self, record: logging.LogRecord) -> None:
        from prefect.context import FlowRunContext
        from prefect.logging import get_run_logger

        if FlowRunContext.get() is not None:
            get_run_logger().log(record.levelno, record.getMessage())


class _ConsoleLines(logging.Handler):
    def __init__(self, console: Console):
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(record.getMessage(), markup=False, highlight=False)


def rate(records: int, seconds: float) -> str:
    return f"{records / seconds:,.0f}/s" if seconds > 0 and records else "-"


class _RateColumn(ProgressColumn):
    """Records per second of a bar's task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>8,.0f}/s" if speed else "")


@dataclass
class StageMeter:
    """Records read by one stage: a live bar, or a plain line every PLAIN_EVERY_SECONDS. A stage that walks its
    input twice (strip's sample pass, then the strip pass) shows each pass in turn."""

    stage: str
    total: int | None
    bar: Progress | None
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    passes: int = 1
    last_line: float = field(default_factory=time.monotonic)
    task: TaskID | None = None

    def __post_init__(self) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(self.stage, total=self.total)

    def advance(self, records: int) -> None:
        self.done += records
        if self.total and self.done > self.total:  # a further pass over the same input
            self.passes += 1
            self.done = min(records, self.total)
            if self.bar is not None:
                self.bar.reset(self.task, total=self.total, description=f"{self.stage} (pass {self.passes})")
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        elif time.monotonic() - self.last_line >= PLAIN_EVERY_SECONDS:
            self.last_line = time.monotonic()
            of = f"/{self.total:,}" if self.total else ""
            seconds = time.monotonic() - self.started
            log.info("  %s: %s%s records (%s)", self.stage, f"{self.done:,}", of, rate(self.done, seconds))

    def close(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.remove_task(self.task)


@contextmanager
def run_log(run_folder: Path) -> Iterator[None]:
    """Send the run's lines to `run_folder/run.log`, to Prefect's run log and to the terminal, if any."""
    run_folder.mkdir(parents=True, exist_ok=True)
    file = logging.FileHandler(run_folder / LOG_FILE, encoding="utf-8")
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handlers: list[logging.Handler] = [file, _PrefectRunLog()]
    if _terminal is not None:
        handlers.append(_ConsoleLines(_terminal))
    for handler in handlers:
        log.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            log.removeHandler(handler)
            handler.close()


@contextmanager
def stage_progress(stage: str, total: int | None) -> Iterator[None]:
    """Announce the stage, meter the records it reads (a live bar on a terminal) for the block."""
    log.info("▶ %s: %s", stage, f"{total:,} records in" if total is not None else "reading raw/")
    with ExitStack() as stack:
        bar = None
        if _terminal is not None and _terminal.is_terminal:
            bar = stack.enter_context(
                Progress(
                    TextColumn("  {task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    _RateColumn(),
                    TimeRemainingColumn(),
                    console=_terminal,
                    transient=True,
                )
            )
        meter = StageMeter(stage, total, bar)
        stack.callback(meter.close)
        stack.enter_context(listening(meter.advance))
        yield


def stage_line(stage: str, stats: dict[str, Any]) -> str:
    """The line that closes a stage: status, records in → kept, quarantined and other counters, seconds, rate."""
    seconds = float(stats.get("seconds") or 0)
    n_in = stats.get("in")
    parts = [f"{n_in:,} in" if isinstance(n_in, int) else None]
    for key in ("kept", "quarantined", "duplicates", "unchanged", "restripped", "tables_changed"):
        if stats.get(key):
            parts.append(f"{key.replace('_', ' ')} {stats[key]:,}")
    counts = ", ".join(p for p in parts if p)
    executed = stats.get("status") not in ("skipped", "failed", "interrupted")  # a rate there would be fiction
    speed = f", {rate(n_in, seconds)}" if isinstance(n_in, int) and executed else ""
    mark = {"failed": "✗", "interrupted": "✗", "skipped": "↷"}.get(stats.get("status", ""), "✓")
    if stats.get("status") == "skipped":
        return f"{mark} {stage} skipped (checkpoint reused): {counts or 'nothing'}"
    return f"{mark} {stage} {stats.get('status', '')} in {seconds:.1f} s: {counts or 'nothing'}{speed}"
