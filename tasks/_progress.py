"""How far the running stage has got (not a stage): stages call `advance` with the records they have just read;
the run bookkeeping in flows/ may listen (a progress bar, a log line). With nobody listening it costs a call.
A stage names its steps with `step`: its passes over records (each counted on its own) and the night-wide steps
that read none (a reduce, a commit), so that the run's lines say what the stage is doing. `note` writes a line of
the run's log (flows/progress.py gives that logger its handlers: run.log, Prefect, the terminal); `Laps` times a
stage's steps for one such line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

RUN_LOGGER = "docpipe.run"

Listener = Callable[[int], None]
_listeners: list[Listener] = []
_unmetered: list[bool] = []  # one entry per open `unmetered` block
clock: Callable[[], float] = time.monotonic  # what steps are timed with


@dataclass(frozen=True, slots=True)
class Step:
    """A named step of the running stage: when it opened (`clock`) and how many records it reads, when it reads
    other records than the stage's input (strip's re-strip reads published documents)."""

    name: str
    opened: float
    records: int | None = None


_steps: list[Step] = []  # the named steps open in this process, innermost last


def advance(records: int) -> None:
    """Tell the listener (if any) that `records` more input records were read."""
    if _unmetered:
        return
    for listener in _listeners:
        listener(records)


@contextmanager
def unmetered() -> Iterator[None]:
    """The block's `advance` calls reach no listener: rows a stage reads that are not its records (publish's
    tables other than `documents`: 5.1M `mentions` rows at 1M pages were counted against 973,855 documents)."""
    _unmetered.append(True)
    try:
        yield
    finally:
        _unmetered.pop()


@contextmanager
def step(name: str, records: int | None = None) -> Iterator[None]:
    """Name what the stage does for the block ("sampling pages", "deciding duplicates"): the run's lines say it, and
    the records read inside it are a pass of their own (`records` of them, else the stage's input)."""
    _steps.append(Step(name, clock(), records))
    try:
        yield
    finally:
        _steps.pop()


def current_step() -> Step | None:
    """The innermost named step open, if any (read by the stage's liveness thread too: one slice, no race)."""
    innermost = _steps[-1:]
    return innermost[0] if innermost else None


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send `advance` calls to `listener` for the duration of the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def note(message: str) -> None:
    """A line in the run's log (e.g. what each of publish's commits took)."""
    logging.getLogger(RUN_LOGGER).info("  %s", message)


class Laps:
    """Seconds a stage spends in each of its steps (monotonic), for one line of the run's log: where a long
    stage's time goes, night after night."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, step: str) -> None:
        """The time since the last lap (or the start) goes to `step` (added up when a step recurs)."""
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._since
        self._since = now

    def text(self) -> str:
        """The steps and their seconds, in order ("sample 0.1 s, clean 2.9 s")."""
        return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.seconds.items())

    def line(self, stage: str) -> str:
        return f"{stage} steps: {self.text()}"
