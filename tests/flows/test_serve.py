"""`docpipe serve` in its own process: starts a local Prefect server, registers the nightly deployment with its
cron schedules (read back through Prefect's client: nights deferring their re-strip, a weekly catch-up), and stops
cleanly, server included, on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from helpers import ROOT


def _deployment(api_url: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        return client.read_deployment_by_name("nightly/nightly")


def test_serve_registers_the_schedule_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cmd = [sys.executable, "-m", "flows", "serve", "--cron", "0 2 * * *", "--timezone", "Europe/Paris"]
    cmd += ["--restrip", "defer", "--restrip-cron", "0 3 * * 0"]  # nights defer their re-strip, Sundays catch up
    cmd += ["--raw", str(tmp_path / "raw"), "--warehouse", str(tmp_path / "warehouse")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Prefect API: http://127.0.0.1:"), line + proc.stdout.read()
        api_url = line.split()[2]
        output: list[str] = []  # drained all along: a full pipe would block the service's logging, and its exit
        threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True).start()
        deadline = time.monotonic() + 120
        while True:
            try:
                deployment = _deployment(api_url)
                break
            except Exception:
                assert time.monotonic() < deadline and proc.poll() is None, "deployment never registered"
                time.sleep(1)
        schedules = {(s.schedule.cron, s.schedule.timezone, s.parameters.get("restrip")) for s in deployment.schedules}
        assert schedules == {("0 2 * * *", "Europe/Paris", None), ("0 3 * * 0", "Europe/Paris", "auto")}
        assert deployment.parameters["restrip"] == "defer"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, "".join(output)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:  # the local server went down with it
        urllib.request.urlopen(f"{api_url}/health", timeout=2)
        raise AssertionError("the local Prefect server is still up")
    except OSError:
        pass
