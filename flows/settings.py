"""Settings from the environment and paths: the only place environment variables are read or set.

Imports nothing that imports Prefect, so that Prefect's environment can be prepared before Prefect loads.
"""

from __future__ import annotations

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


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique run id: UTC time plus 4 random hex digits."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


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
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
