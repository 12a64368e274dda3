"""What a run shows while it works.

Every stage start and end is a line on the `docpipe.run` logger (records in, kept, quarantined, seconds,
records/s), which goes to the run's log file `_runs/<run_id>/run.log`, to Prefect's run log (the UI) when the
run is a Prefect flow run, and to the terminal when the CLI attached one (`show_on`). While a stage reads its
input, the records it has read (tasks/_progress.py) feed a live bar on a terminal (records, rate, ETA), or a
line every `PLAIN_EVERY_SECONDS` elsewhere (a log, a pipe, a scheduled run: records, the pass's rate, ETA). When
no record has moved for `PLAIN_EVERY_SECONDS` (a night-wide reduce, a commit), a line says what the stage is
doing (`tasks._progress.step`) and for how long: a long night is never silent (1M pages: dedupe's reduce ran
100 s without a line).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
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

from tasks._progress import RUN_LOGGER, Step, current_step, listening

LOG_FILE = "run.log"
PLAIN_EVERY_SECONDS = 30.0
BEAT_EVERY_SECONDS = 1.0  # how often the stage's liveness thread looks whether a line is due

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


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 45 s, 7 min 04 s, 1 h 02 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class _RateColumn(ProgressColumn):
    """Records per second of a bar's task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>8,.0f}/s" if speed else "")


@dataclass
class StageMeter:
    """Records read by one stage: a live bar, or a plain line every PLAIN_EVERY_SECONDS (records, the pass's rate,
    ETA). The records read inside a named step (`tasks._progress.step`: strip's sampling, then stripping) are a
    pass of their own, named by it; an unnamed further walk of the input is "pass N". `beat` says what the stage
    does when no record has moved for PLAIN_EVERY_SECONDS."""

    stage: str
    total: int | None
    bar: Progress | None
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    passes: int = 1
    pass_base: int = 0  # records of the pass read before pass_started
    step: Step | None = None  # the named step of the pass
    task: TaskID | None = None
    started: float = field(init=False)
    pass_started: float = field(init=False)  # when the pass's rate starts counting
    last_line: float = field(init=False)
    last_record: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.pass_started = self.last_line = self.last_record = self.clock()
        if self.bar is not None:
            self.task = self.bar.add_task(self.stage, total=self.total)

    @property
    def name(self) -> str:
        label = self.step.name if self.step else f"pass {self.passes}" if self.passes > 1 else None
        return f"{self.stage} ({label})" if label else self.stage

    def total_of(self, step: Step | None) -> int | None:
        """The records a pass under `step` reads: the step's own, else the stage's input."""
        return step.records if step is not None and step.records is not None else self.total

    def advance(self, records: int) -> None:
        now = self.last_record = self.clock()
        open_step = current_step()
        total = self.total_of(open_step)
        if open_step != self.step and open_step is not None:  # a named step's records: counted from its start
            self._new_pass(open_step, open_step.opened, records, 0)
        elif open_step != self.step or (total and self.done + records > total):  # a further walk of the input
            first = min(records, total) if total else records
            self._new_pass(open_step, now, first, first)  # read before now: the rate counts those after
        else:
            self.done += records
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        elif now - self.last_line >= PLAIN_EVERY_SECONDS:
            self.last_line = now
            log.info("  %s", self.progress(now))

    def _new_pass(self, step: Step | None, since: float, done: int, base: int) -> None:
        if self.done or self.step is not None:
            self.passes += 1
        self.step, self.pass_started, self.done, self.pass_base = step, since, done, base
        if self.bar is not None:
            self.bar.reset(self.task, total=self.total_of(self.step), description=self.name)

    def progress(self, now: float) -> str:
        """The pass's line: strip_boilerplate (stripping pages): 44,000/999,000 records (2,150/s, about 7 min 24 s
        left)."""
        total = self.total_of(self.step)
        of = f"/{total:,}" if total else ""
        read, seconds = self.done - self.pass_base, now - self.pass_started
        left = ""
        if total and read > 0 and seconds > 0:
            left = f", about {duration(max(total - self.done, 0) * seconds / read)} left"
        return f"{self.name}: {self.done:,}{of} records ({rate(read, seconds)}{left})"

    def beat(self) -> None:
        """A line saying what the stage does, when nothing was said and no record read for PLAIN_EVERY_SECONDS."""
        now = self.clock()
        if now - max(self.last_line, self.last_record) < PLAIN_EVERY_SECONDS:
            return
        self.last_line = now
        open_step = current_step()
        doing = open_step.name if open_step else "working"
        log.info("  %s: %s (%s into the stage)", self.stage, doing, duration(now - self.started))

    def close(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.remove_task(self.task)


@contextmanager
def beating(meter: StageMeter) -> Iterator[None]:
    """`meter.beat()` every BEAT_EVERY_SECONDS on a thread of its own for the block, in this thread's context
    (in a Prefect flow run, its lines reach the flow run's log)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(BEAT_EVERY_SECONDS):
            meter.beat()

    thread = threading.Thread(target=contextvars.copy_context().run, args=(loop,), name="stage-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
        stack.enter_context(beating(meter))
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
