"""`docpipe serve`: the `nightly` flow served on a cron schedule with the least infrastructure.

Prefect's temporary server cannot schedule ("Cannot schedule flows on an ephemeral server"), so without
PREFECT_API_URL this starts a real `prefect server start` on loopback (a free port, its database under
warehouse/_prefect), points the client at it, serves the flow, and stops the server on exit (SIGTERM, Ctrl-C).
With PREFECT_API_URL set, the flow is served against that server. Teams with a work pool use prefect.yaml.
"""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path

from flows.prefect_server import local_prefect_server
from flows.settings import point_prefect_at, prefect_api_url, prepare_prefect_env
from schemas.runs import RESTRIP_AUTO

DEPLOYMENT = "nightly"
DEPLOYMENT_NAME = f"nightly/{DEPLOYMENT}"  # <flow name>/<deployment name>


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)  # unwinds through the finally blocks, which stop the local server


def serve_nightly(
    raw: Path, warehouse: Path, cron: str, timezone: str, restrip: str = RESTRIP_AUTO, restrip_cron: str = ""
) -> None:
    """Serve `nightly` with a cron schedule until SIGTERM/Ctrl-C; its runs take `restrip`, and with `restrip_cron`
    a second schedule runs it with restrip auto (the catch-up of nights that defer their re-strip)."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # Prefect's runner installs its own once it starts
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
        from prefect.types.entrypoint import EntrypointType

        from flows.nightly import nightly

        schedules = [Cron(cron, timezone=timezone)]
        if restrip_cron:
            schedules.append(Cron(restrip_cron, timezone=timezone, parameters={"restrip": RESTRIP_AUTO}))
        nightly.serve(
            name=DEPLOYMENT,
            schedules=schedules,
            parameters={"raw": str(raw), "warehouse": str(warehouse), "restrip": restrip},
            entrypoint_type=EntrypointType.MODULE_PATH,  # runs start from any directory
            print_starting_message=False,  # Prefect's omits PREFECT_API_URL, which another shell needs
        )
