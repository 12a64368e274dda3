"""Prefect servers this process starts on loopback: the real one `docpipe serve` supervises, and the temporary one
a run reports to when PREFECT_API_URL is unset. Both are child processes started without importing Prefect here.

The temporary server is the one Prefect itself would start at the flow's first call (`SubprocessASGIServer`: the
same uvicorn command and environment, UI off, ephemeral services), launched before the run imports Prefect and
its flow: its start (~4 s) overlaps those imports instead of following them, and the run process does not import
Prefect's server modules (~2.5 s) only to start it. A warehouse without a database gets a copy of an empty one
Prefect migrated at install time (flows/prefect_template.py) first, and a server on a database at the template's
revision skips what the copy holds (`start_up_settings`: ~2 s).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flows.prefect_template import seed_database, start_up_settings
from flows.settings import local_server_env

STARTUP_SECONDS = 120
PORT_IN_USE = 3  # uvicorn's exit code when its port was taken meanwhile (Prefect relaunches on another)
TEMPORARY_LOG = "temporary-server.log"
# what Prefect's SubprocessASGIServer sets for its server (prefect/server/api/server.py)
_TEMPORARY_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_process_group(proc: subprocess.Popen, grace_seconds: float = 20) -> None:
    """SIGTERM a process started in its own session (and its children), SIGKILL them if they linger."""
    _stop(proc, grace_seconds, lambda sig: os.killpg(proc.pid, sig))


def _stop(proc: subprocess.Popen, grace_seconds: float, send: Callable[[int], None]) -> None:
    """`send` SIGTERM, then SIGKILL when the process has not exited within `grace_seconds`."""
    if proc.poll() is not None:
        return
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()


@dataclass
class ServerProcess:
    """A Prefect server starting or started in a child process on loopback: in a session of its own (`docpipe
    serve`'s, stopped with its children), or in this process's group (a run's temporary server, as Prefect starts
    it: killing the run's process group takes it along)."""

    proc: subprocess.Popen
    api_url: str
    log: Path
    own_session: bool

    @classmethod
    def launch(cls, command: list[str], env: dict[str, str], port: int, log: Path, own_session: bool) -> ServerProcess:
        """Start `command` (serving on `port`) without waiting for it; its output goes to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=own_session
            )
        return cls(proc, f"http://127.0.0.1:{port}/api", log, own_session)

    def wait_healthy(self, seconds: float = STARTUP_SECONDS) -> str:
        """Its API URL once it answers; RuntimeError when it exits or does not answer within `seconds` (then it is
        stopped)."""
        deadline = time.monotonic() + seconds
        while not _healthy(self.api_url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(grace_seconds=5)
                raise RuntimeError(f"the local Prefect server did not start; see {self.log}")
            time.sleep(0.1)
        return self.api_url

    def stop(self, grace_seconds: float = 20) -> None:
        if self.own_session:
            stop_process_group(self.proc, grace_seconds)
        else:
            _stop(self.proc, grace_seconds, self.proc.send_signal)


@contextmanager
def local_prefect_server(warehouse: Path) -> Iterator[str]:
    """A `prefect server start` on a free loopback port for the duration of the block; yields its API URL."""
    port = free_port()
    env = local_server_env(warehouse, port)
    home = Path(env["PREFECT_HOME"])
    env |= start_up_settings(home, seeded=seed_database(home))
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = ServerProcess.launch(cmd, env, port, home / "server.log", own_session=True)
    try:
        yield server.wait_healthy()
    finally:
        server.stop()


def launch_temporary_server() -> ServerProcess:
    """Prefect's temporary server for this run (module docstring), started now; its settings are this process's
    environment (`flows.settings.prepare_prefect_env`, called before), its output in PREFECT_HOME."""
    port = free_port()
    home = Path(os.environ["PREFECT_HOME"])
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | _TEMPORARY_ENV
    env |= start_up_settings(home, seeded=seed_database(home))
    command = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return ServerProcess.launch(command, env, port, home / TEMPORARY_LOG, own_session=False)


def temporary_server_url(server: ServerProcess) -> tuple[ServerProcess, str]:
    """The server once it answers (within Prefect's PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, which the CLI
    sets), and its API URL: relaunched on another port when its port was taken between choosing it and binding it
    (as Prefect does)."""
    seconds = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or STARTUP_SECONDS)
    while True:
        try:
            return server, server.wait_healthy(seconds)
        except RuntimeError:
            if server.proc.poll() != PORT_IN_USE:
                raise
            server = launch_temporary_server()
