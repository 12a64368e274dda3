"""Prefect's temporary server as a run starts it (flows/prefect_server.py): launched before Prefect is imported,
with the run's settings, its database under the warehouse, stopped with the run."""

from __future__ import annotations

import os
import urllib.request

import pytest

from flows.prefect_server import TEMPORARY_LOG, launch_temporary_server, temporary_server_url
from flows.settings import prepare_prefect_env


@pytest.fixture
def prefect_env(tmp_path):
    """This process's Prefect environment for a warehouse in tmp_path, as the CLI sets it before a run (restored
    after: `prepare_prefect_env` sets os.environ)."""
    saved = dict(os.environ)
    for name in ("PREFECT_HOME", "PREFECT_API_URL"):
        os.environ.pop(name, None)
    warehouse = tmp_path / "warehouse"
    prepare_prefect_env(warehouse)
    try:
        yield warehouse
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_temporary_server_answers_with_its_database_under_the_warehouse_and_stops(prefect_env):
    server, api_url = temporary_server_url(launch_temporary_server())
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            assert response.status == 200
        assert (prefect_env / "_prefect" / "prefect.db").is_file()  # the run's PREFECT_HOME, not the user's
        assert (prefect_env / "_prefect" / TEMPORARY_LOG).is_file()
    finally:
        server.stop(grace_seconds=5)
    assert server.proc.poll() is not None


def test_a_server_that_exits_before_answering_is_a_clear_error(prefect_env):
    server = launch_temporary_server()
    server.proc.kill()
    with pytest.raises(RuntimeError, match=TEMPORARY_LOG):
        temporary_server_url(server)
