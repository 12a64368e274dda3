"""`docpipe serve`: the `nightly` flow served on a cron schedule with the least infrastructure.

Prefect's temporary server cannot schedule ("Cannot schedule flows on an ephemeral server"), so without
PREFECT_API_URL this starts a real `prefect server start` on loopback (a free port, its database under
warehouse/_prefect), points the client at it, serves the flow, and stops the server on exit (SIGTERM, Ctrl-C).
With PREFECT_API_URL set, the flow is served against that server. Teams with a work pool use prefect.yaml.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from flows.settings import local_server_env, point_prefect_at, prefect_api_url, prepare_prefect_env

DEPLOYMENT = "nightly"
DEPLOYMENT_NAME = f"nightly/{DEPLOYMENT}"  # <flow name>/<deployment name>
SERVER_STARTUP_SECONDS = 120


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
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def local_prefect_server(warehouse: Path) -> Iterator[str]:
    """A `prefect server start` on a free loopback port for the duration of the block; yields its API URL."""
    port = free_port()
    env = local_server_env(warehouse, port)
    home = Path(env["PREFECT_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{port}/api"
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with (home / "server.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while not _healthy(api_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield api_url
    finally:
        stop_process_group(proc)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)  # unwinds through the finally blocks, which stop the local server


def serve_nightly(raw: Path, warehouse: Path, cron: str, timezone: str) -> None:
    """Serve `nightly` with a cron schedule until SIGTERM/Ctrl-C."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # Prefect's runner installs its own once it starts
    prepare_prefect_env(warehouse, verbose=True)  # a long-lived service: the runner's lines are its log
    with ExitStack() as stack:
        if not prefect_api_url():
            point_prefect_at(stack.enter_context(local_prefect_server(warehouse)))
        api_url = prefect_api_url()
        print(f"Prefect API: {api_url}  UI: {api_url.removesuffix('/api')}", flush=True)
        print(
            f"serving deployment {DEPLOYMENT_NAME} on cron {cron!r} ({timezone}); to start a run now, from any shell:\n"
            f"  PREFECT_API_URL={api_url} prefect deployment run '{DEPLOYMENT_NAME}'",
            flush=True,
        )
        from prefect.schedules import Cron  # Prefect loads here, once PREFECT_API_URL is set
        from prefect.types.entrypoint import EntrypointType

        from flows.nightly import nightly

        nightly.serve(
            name=DEPLOYMENT,
            schedules=[Cron(cron, timezone=timezone)],
            parameters={"raw": str(raw), "warehouse": str(warehouse)},
            entrypoint_type=EntrypointType.MODULE_PATH,  # runs start from any directory
            print_starting_message=False,  # Prefect's omits PREFECT_API_URL, which another shell needs
        )
