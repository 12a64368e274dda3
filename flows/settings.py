"""Settings from the environment and paths: the only place environment variables are read or set.

Imports nothing that imports Prefect, so that Prefect's environment can be prepared before Prefect loads.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RAW = PROJECT_ROOT / "raw"
DEFAULT_WAREHOUSE = PROJECT_ROOT / "warehouse"


def code_version() -> str:
    try:
        return version("docpipe")
    except PackageNotFoundError:
        return "0+unknown"


DEFAULT_CRON = "0 2 * * *"  # nightly at 02:00; prefect.yaml carries the same schedule
DEFAULT_TIMEZONE = "UTC"
FAULT_ENV = "DOCPIPE_FAULT_STAGE"
RETENTION_ENV = "DOCPIPE_CHECKPOINT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 14


RUN_ID_SUFFIX_CHARS = 6
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ALPHABET = _LETTERS + "0123456789"


def run_id_suffix(entropy: bytes) -> str:
    """Six characters drawn from a hash of `entropy`, the first a letter: never all digits, so no parser takes
    `<time>-<suffix>` for a date with a UTC offset (Great Expectations did, for suffixes like `8198`)."""
    number = int.from_bytes(hashlib.sha256(entropy).digest()[:16], "big")
    number, first = divmod(number, len(_LETTERS))
    chars = [_LETTERS[first]]
    for _ in range(RUN_ID_SUFFIX_CHARS - 1):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def new_run_id(now: datetime | None = None, entropy: bytes | None = None) -> str:
    """Sortable, unique run id: UTC time plus a six-character suffix (random unless `entropy` is given: a
    scheduled run passes its flow run's UUID, so a retry of that flow run keeps its id)."""
    now = now or datetime.now(UTC)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{run_id_suffix(entropy if entropy is not None else secrets.token_bytes(16))}"


def fault_injection() -> str:
    """$DOCPIPE_FAULT_STAGE, for fault-injection tests and drills: `<stage>` makes that stage raise at its start,
    `<stage>:kill` SIGKILLs the process there (`publish:kill`: right after the first table commit)."""
    return os.environ.get(FAULT_ENV, "").strip()


def checkpoint_retention_days() -> int:
    """$DOCPIPE_CHECKPOINT_RETENTION_DAYS (default 14): stage checkpoints of older runs are deleted."""
    return int(os.environ.get(RETENTION_ENV) or DEFAULT_RETENTION_DAYS)


# Served nights (`docpipe serve --runner dask`) load the flow afresh in a child process: it finds its runner here.
RUNNER_ENV, DASK_ADDRESS_ENV, WORKERS_ENV = "DOCPIPE_RUNNER", "DOCPIPE_DASK_ADDRESS", "DOCPIPE_WORKERS"


def runner_from_env() -> tuple[str, str, int]:
    """(runner, Dask scheduler address, worker processes) named in the environment; empty strings / 0 when
    unset."""
    workers = os.environ.get(WORKERS_ENV, "").strip()
    return os.environ.get(RUNNER_ENV, "").strip(), os.environ.get(DASK_ADDRESS_ENV, "").strip(), int(workers or 0)


def export_runner(runner: str, dask_address: str, workers: int = 0) -> None:
    """Name the runner in this process's environment, for the flow runs it starts (`serve`)."""
    os.environ[RUNNER_ENV] = runner
    os.environ[DASK_ADDRESS_ENV] = dask_address
    os.environ[WORKERS_ENV] = str(workers or "")


def prefect_api_url() -> str | None:
    return os.environ.get("PREFECT_API_URL") or None


def point_prefect_at(api_url: str) -> None:
    """Make this process (and the flow runs it starts) talk to the Prefect server at `api_url`."""
    os.environ["PREFECT_API_URL"] = api_url


def resolve_raw(raw: Path | None) -> Path:
    """--raw, else $DOCPIPE_RAW, else raw/ in the project."""
    return Path(raw or os.environ.get("DOCPIPE_RAW") or DEFAULT_RAW).resolve()


def resolve_warehouse(warehouse: Path | None) -> Path:
    """--warehouse, else $DOCPIPE_WAREHOUSE, else warehouse/ in the project."""
    return Path(warehouse or os.environ.get("DOCPIPE_WAREHOUSE") or DEFAULT_WAREHOUSE).resolve()


def prepare_prefect_env(warehouse: Path, verbose: bool = False) -> None:
    """Prefect settings for local runs, set before Prefect is imported: state under the warehouse, no
    telemetry, the temporary local server unless PREFECT_API_URL points at a real one."""
    home = Path(os.environ.setdefault("PREFECT_HOME", str(Path(warehouse).resolve() / "_prefect")))
    home.mkdir(parents=True, exist_ok=True)  # Prefect does not create missing parents
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # INFO reaches Prefect's API (the UI shows each run's stage lines); the terminal gets Prefect's own lines and
    # tracebacks only with --verbose: docpipe prints its own progress and one clear message per error.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO" if verbose else "CRITICAL")


def local_server_env(warehouse: Path, port: int) -> dict[str, str]:
    """Environment of the `prefect server start` that `docpipe serve` supervises: loopback only, its database
    under the warehouse's PREFECT_HOME, no telemetry."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(Path(warehouse).resolve() / "_prefect"),
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
        DO_NOT_TRACK="1",
    )
    return env
