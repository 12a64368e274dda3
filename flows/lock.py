"""One run at a time per warehouse: a lock file holding the owner's pid, host, run id and start time.

A lock whose pid is dead on this host is stale (a killed run) and is taken over; a lock held by a live process,
or by another host (whose pid cannot be checked from here), refuses the run.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_FILE = "_run.lock"


class RunLocked(RuntimeError):
    """Another run holds the warehouse."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        super().__init__(
            f"another docpipe run is in progress on this warehouse: run {holder.get('run_id')} "
            f"(pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started_at')}). "
            f"Wait for it to finish; if it is gone, delete {path}."
        )
        self.holder = holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_stale(holder: dict[str, Any]) -> bool:
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", 0)))


@dataclass
class RunLock:
    """Context manager: `with RunLock(warehouse, run_id): ...` raises RunLocked when the warehouse is busy.

    Re-entrant within one process for the same run: the CLI takes the lock before Prefect starts (a busy
    warehouse is refused at once), and the flow's own `RunLock` then finds it already held by its process."""

    warehouse: Path
    run_id: str
    owner: bool = False  # this instance created the lock file (and so removes it)

    @property
    def path(self) -> Path:
        return Path(self.warehouse) / LOCK_FILE

    def _holder(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": self.run_id,
            "started_at": datetime.now(UTC).isoformat(),
        }
        holder = self._holder()
        if holder.get("pid") == me["pid"] and holder.get("host") == me["host"] and holder.get("run_id") == self.run_id:
            return  # held by this process for this run: re-entered
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if not _is_stale(holder):
                    raise RunLocked(self.path, holder) from None
                self.path.unlink(missing_ok=True)  # stale: its process is dead
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.owner = True
            return
        raise RunLocked(self.path, self._holder())

    def release(self) -> None:
        if self.owner and self._holder().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.owner = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
