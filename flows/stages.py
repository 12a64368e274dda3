"""What the run bookkeeping knows about each stage: its config (part of its checkpoint fingerprint), whether it
is checkpointed, and whether Prefect retries it on transient errors.

Only I/O stages retry, and only on errors that can go away by themselves (a flaky disk or network share, a
concurrent Delta commit). A code fault (KeyError, AssertionError, a failed expectation) fails at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deltalake.exceptions import CommitFailedError
from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import exponential_backoff

from flows.config import RunConfig
from schemas.runs import STAGES

# OSErrors that are facts about the input, not hiccups: retrying cannot help.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
_TRANSIENT_ERRORS = (OSError, TimeoutError, ConnectionError, CommitFailedError)


@dataclass(frozen=True, slots=True)
class StageSpec:
    name: str
    config: str | None  # field of RunConfig holding the stage's config
    io: bool = False  # retried by Prefect on transient errors
    checkpointed: bool = True  # publish always runs again: its merges are idempotent


STAGE_SPECS: tuple[StageSpec, ...] = (
    StageSpec("ingest", "ingest", io=True),
    StageSpec("strip_boilerplate", "boilerplate"),
    StageSpec("dedupe", "dedupe"),
    StageSpec("extract", "extract"),
    StageSpec("validate", "validate"),
    StageSpec("publish", None, io=True, checkpointed=False),
)
SPECS: dict[str, StageSpec] = {s.name: s for s in STAGE_SPECS}
assert tuple(SPECS) == STAGES, "flows/stages.py and schemas/runs.py must list the same stages"


def is_transient(error: BaseException) -> bool:
    return isinstance(error, _TRANSIENT_ERRORS) and not isinstance(error, _PERMANENT_OS_ERRORS)


def retry_on_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect retry_condition_fn: retry only when the task failed with a transient error."""
    error = state.data
    if not isinstance(error, BaseException):
        try:
            state.result()
        except BaseException as exc:  # noqa: BLE001 - the failure being classified
            error = exc
    return isinstance(error, BaseException) and is_transient(error)


def with_retries(task: Task | Callable[..., Any], spec: StageSpec, cfg: RunConfig) -> Task | Callable[..., Any]:
    """The stage's task, with Prefect retries and exponential backoff when it does I/O; a stage function that
    maps shard tasks itself (ingest) is retried here, on the same condition and delays."""
    if not spec.io or cfg.max_retries <= 0:
        return task
    if not isinstance(task, Task):
        delays = exponential_backoff(backoff_factor=cfg.retry_backoff_seconds)(cfg.max_retries)
        return functools.partial(_retried, task, delays)
    return task.with_options(
        retries=cfg.max_retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=cfg.retry_backoff_seconds),
        retry_condition_fn=retry_on_transient,
    )


def _retried(stage: Callable[..., Any], delays: list[float], *args: Any, **kwargs: Any) -> Any:
    """`stage(*args, **kwargs)`, called again after each delay while it fails with a transient error."""
    for delay in delays:
        try:
            return stage(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc):
                raise
            time.sleep(delay)
    return stage(*args, **kwargs)
