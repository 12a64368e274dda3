"""`docpipe serve` in its own process: starts a local Prefect server, registers the nightly deployment with its
cron schedules (read back through Prefect's client: nights deferring their re-strip, a weekly catch-up), and stops
cleanly, server included, on SIGTERM, also when the stop surfaces inside a library as that library's error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from helpers import ROOT

from flows.serve import STOP_ASKED, until_stopped


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


@pytest.fixture
def stop_handlers():
    """The process's SIGTERM / SIGINT handlers and the stop note, restored after the test."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    STOP_ASKED.clear()
    yield
    STOP_ASKED.clear()
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _library_wrapping_the_stop() -> None:
    """A library that turns whatever its callback raises into its own error (as pydantic-core does)."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler raises here
    except BaseException as exc:
        raise ValueError(f"Error building serializer: {type(exc).__name__}: {exc}") from None
    raise AssertionError("SIGTERM did not stop the service")


def test_a_sigterm_wrapped_by_a_library_is_a_clean_stop(stop_handlers, capsys):
    until_stopped(_library_wrapping_the_stop)
    assert STOP_ASKED.is_set()
    assert "stopped (the stop signal surfaced as ValueError)" in capsys.readouterr().out


def test_an_error_without_a_stop_signal_still_fails_the_service(stop_handlers):
    def failing() -> None:
        raise ValueError("the deployment could not be registered")

    with pytest.raises(ValueError, match="could not be registered"):
        until_stopped(failing)


_HANGING_SERVICE = """
import os, signal, sys, threading, time
from flows.serve import _cleanups, until_stopped

def hang() -> None:
    _cleanups.append(lambda: print("cleaned up", flush=True))
    while True:  # a library that swallows the stop and waits for ever
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(60)
        except BaseException:
            pass

until_stopped(hang, hard_stop_seconds=1)
"""


def test_a_service_whose_stop_hangs_exits_after_the_hard_stop():
    proc = subprocess.run(
        [sys.executable, "-c", _HANGING_SERVICE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "still unwinding 1 s after the stop signal" in proc.stdout and "cleaned up" in proc.stdout, proc.stdout
