"""`docpipe serve`: the `nightly` flow served on a cron schedule with the least infrastructure.

Prefect's temporary server cannot schedule ("Cannot schedule flows on an ephemeral server"), so without
PREFECT_API_URL this starts a real `prefect server start` on loopback (a free port, its database under
warehouse/_prefect), points the client at it, serves the flow, and stops the server on exit (SIGTERM, Ctrl-C).
With PREFECT_API_URL set, the flow is served against that server. Teams with a work pool use prefect.yaml.

A stop is asked for at any moment, and Python raises it wherever the main thread is: inside a library that turns
exceptions into its own errors (pydantic building a model's serializer wraps the SystemExit of Prefect's SIGTERM
handler in a SchemaError, seen in CI), the stop comes out as that error. So every stop signal is noted, and an
error raised after one is a clean stop, exit 0.
"""

from __future__ import annotations

import signal
import threading
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


def _exit_on_sigterm(signum, frame) -> None:
    STOP_ASKED.set()
    raise SystemExit(0)  # unwinds through the finally blocks, which stop the local server


def _exit_on_sigint(signum, frame) -> None:
    STOP_ASKED.set()
    raise KeyboardInterrupt


def noting_stop(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` (a library's signal handler), noting first that a stop was asked for."""

    def handle(*args: Any, **kwargs: Any) -> Any:
        STOP_ASKED.set()
        return handler(*args, **kwargs)

    return handle


def until_stopped(serve: Callable[[], None]) -> None:
    """Run `serve`; an error it raises once a stop was asked for is that stop, wrapped by a library (module
    docstring): reported, not raised."""
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
    until_stopped(lambda: _serve(raw, warehouse, cron, timezone, restrip, restrip_cron))


def _serve(raw: Path, warehouse: Path, cron: str, timezone: str, restrip: str, restrip_cron: str) -> None:
    prepare_prefect_env(warehouse, verbose=True)  # a long-lived service: the runner's lines are its log
    with ExitStack() as stack:
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
