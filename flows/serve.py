"""`docpipe serve`: the `nightly` flow served on a cron schedule with the least infrastructure.

Prefect's temporary server cannot schedule ("Cannot schedule flows on an ephemeral server"), so without
PREFECT_API_URL this starts a real `prefect server start` on loopback (a free port, its database under
warehouse/_prefect), points the client at it, serves the flow, and stops the server on exit (SIGTERM, Ctrl-C).
With PREFECT_API_URL set, the flow is served against that server. Teams with a work pool use prefect.yaml.

A stop is asked for at any moment, and Python raises it wherever the main thread is: inside a library that turns
exceptions into its own errors (pydantic building a model's serializer wraps the SystemExit of Prefect's SIGTERM
handler in a SchemaError, seen in CI), the stop comes out as that error. So every stop signal is noted, and an
error raised after one is a clean stop, exit 0. And a library may unwind the stop by waiting on its own threads
for ever (a served night's SIGTERM once never exited in CI): the service exits 0 at the latest
`HARD_STOP_SECONDS` after the stop signal, its local Prefect server stopped first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from flows.prefect_server import local_prefect_server
from flows.settings import point_prefect_at, prefect_api_url, prepare_prefect_env
from schemas.runs import RESTRIP_AUTO

DEPLOYMENT = "nightly"
DEPLOYMENT_NAME = f"nightly/{DEPLOYMENT}"  # <flow name>/<deployment name>
STOP_ASKED = threading.Event()  # set by every SIGTERM / SIGINT handler of the service
HARD_STOP_SECONDS = 30.0  # after a stop signal, the service exits within this even if unwinding hangs
_hard_stop: list[float] = []  # the service's HARD_STOP_SECONDS, once `until_stopped` runs it
_cleanups: list[Callable[[], None]] = []  # what a hard stop still does (stop the local Prefect server)


def _note_stop() -> None:
    """Note the stop; the first one starts the hard stop's clock (when the service set one)."""
    if STOP_ASKED.is_set():
        return
    STOP_ASKED.set()
    if _hard_stop:
        threading.Thread(target=_exit_hard, args=(_hard_stop[0],), name="hard-stop", daemon=True).start()


def _exit_hard(seconds: float) -> None:
    """Exit 0 `seconds` after the stop signal when the process is still there: a library unwinding the stop may
    wait on its own threads for ever (a served night's SIGTERM in CI never exited); the cleanups run first."""
    time.sleep(seconds)
    print(f"stopped: still unwinding {seconds:.0f} s after the stop signal, exiting", flush=True)
    for cleanup in reversed(_cleanups):
        with contextlib.suppress(Exception):
            cleanup()
    os._exit(0)


def _exit_on_sigterm(signum, frame) -> None:
    _note_stop()
    raise SystemExit(0)  # unwinds through the finally blocks, which stop the local server


def _exit_on_sigint(signum, frame) -> None:
    _note_stop()
    raise KeyboardInterrupt


def noting_stop(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` (a library's signal handler), noting first that a stop was asked for."""

    def handle(*args: Any, **kwargs: Any) -> Any:
        _note_stop()
        return handler(*args, **kwargs)

    return handle


def until_stopped(serve: Callable[[], None], hard_stop_seconds: float | None = None) -> None:
    """Run `serve`; an error it raises once a stop was asked for is that stop, wrapped by a library (module
    docstring): reported, not raised. With `hard_stop_seconds`, the process exits 0 that long after a stop signal
    if it is still there (`_exit_hard`)."""
    _hard_stop[:] = [hard_stop_seconds] if hard_stop_seconds else []
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # Prefect's runner installs its own once it starts
    signal.signal(signal.SIGINT, _exit_on_sigint)
    try:
        serve()
    except Exception as exc:
        if not STOP_ASKED.is_set():
            raise
        print(f"stopped (the stop signal surfaced as {type(exc).__name__})", flush=True)


def _serve_flow(raw: Path, warehouse: Path, schedules: list, restrip: str) -> None:
    """`nightly.serve`, with a runner whose SIGTERM handler notes the stop (Prefect's Runner API)."""
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner
    from prefect.types.entrypoint import EntrypointType

    from flows.nightly import nightly

    runner = Runner(name=DEPLOYMENT)
    runner.handle_sigterm = noting_stop(runner.handle_sigterm)  # start() installs runner.handle_sigterm
    runner.add_flow(
        nightly,
        name=DEPLOYMENT,
        schedules=schedules,
        parameters={"raw": str(raw), "warehouse": str(warehouse), "restrip": restrip},
        entrypoint_type=EntrypointType.MODULE_PATH,  # runs start from any directory
    )
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        print("stopped", flush=True)


def serve_nightly(
    raw: Path, warehouse: Path, cron: str, timezone: str, restrip: str = RESTRIP_AUTO, restrip_cron: str = ""
) -> None:
    """Serve `nightly` with a cron schedule until SIGTERM/Ctrl-C; its runs take `restrip`, and with `restrip_cron`
    a second schedule runs it with restrip auto (the catch-up of nights that defer their re-strip)."""
    until_stopped(lambda: _serve(raw, warehouse, cron, timezone, restrip, restrip_cron), HARD_STOP_SECONDS)


def _serve(raw: Path, warehouse: Path, cron: str, timezone: str, restrip: str, restrip_cron: str) -> None:
    prepare_prefect_env(warehouse, verbose=True)  # a long-lived service: the runner's lines are its log
    with ExitStack() as stack:
        _cleanups.append(stack.close)  # a hard stop still stops the local server
        if not prefect_api_url():
            point_prefect_at(stack.enter_context(local_prefect_server(warehouse)))
        api_url = prefect_api_url()
        print(f"Prefect API: {api_url}  UI: {api_url.removesuffix('/api')}", flush=True)
        also = f", restrip auto on cron {restrip_cron!r}" if restrip_cron else ""
        print(
            f"serving deployment {DEPLOYMENT_NAME} on cron {cron!r} ({timezone}, restrip {restrip}{also}); "
            "to start a run now, from any shell:\n"
            f"  PREFECT_API_URL={api_url} prefect deployment run '{DEPLOYMENT_NAME}'",
            flush=True,
        )
        from prefect.schedules import Cron  # Prefect loads here, once PREFECT_API_URL is set

        schedules = [Cron(cron, timezone=timezone)]
        if restrip_cron:
            schedules.append(Cron(restrip_cron, timezone=timezone, parameters={"restrip": RESTRIP_AUTO}))
        _serve_flow(raw, warehouse, schedules, restrip)
