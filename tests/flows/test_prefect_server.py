"""Prefect's temporary server as a run starts it (flows/prefect_server.py): launched before Prefect is imported,
with the run's settings, its database under the warehouse (on a new warehouse, a copy of the template Prefect
migrated: flows/prefect_template.py), stopped with the run."""

from __future__ import annotations

import os
import sqlite3
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from flows import prefect_template
from flows.prefect_server import TEMPORARY_LOG, launch_temporary_server, temporary_server_url
from flows.prefect_template import (
    DATABASE,
    DATABASE_URL_SETTING,
    MIGRATE_SETTING,
    REGISTER_SETTING,
    build_template,
    seed_database,
    start_up_settings,
)
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


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_template(tmp_path_factory.mktemp("template") / "prefect.db")


def _schema(database: Path) -> tuple[set[tuple], list[tuple]]:
    """Every table, index and trigger of a database as SQLite stores its definition (the lines of each definition
    as a set: Alembic's table rebuilds write a table's constraints in an order that differs between runs), and its
    Alembic revision."""
    query = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    with closing(sqlite3.connect(database)) as db:
        found = {
            (*row[:3], frozenset(x.strip().rstrip(",") for x in (row[3] or "").splitlines()))
            for row in db.execute(query)
        }
        return found, db.execute("SELECT version_num FROM alembic_version").fetchall()


def _block_types(database: Path) -> set[tuple]:
    """The block types and schemas a database holds (slug, schema checksum)."""
    query = "SELECT t.slug, s.checksum FROM block_type t JOIN block_schema s ON s.block_type_id = t.id"
    with closing(sqlite3.connect(database)) as db:
        return set(db.execute(query))


def test_the_template_is_the_database_a_server_leaves_on_a_new_warehouse(prefect_env, template):
    home = prefect_env / "_prefect"
    os.environ[DATABASE_URL_SETTING] = f"sqlite+aiosqlite:///{home / DATABASE}"  # a database set: nothing seeded
    assert start_up_settings(home, seeded=False, template=template) == {}  # Prefect starts it as it would
    server, _ = temporary_server_url(launch_temporary_server())
    server.stop(grace_seconds=5)
    migrated = _schema(home / DATABASE)
    assert len(migrated[0]) > 20 and migrated[1]  # Prefect's tables, at a revision
    assert _schema(template) == migrated
    registered = _block_types(home / DATABASE)
    assert len(registered) > 20  # Prefect's own block types
    assert _block_types(template) == registered


def test_a_server_skips_only_what_the_database_holds(prefect_env, template, tmp_path):
    home = prefect_env / "_prefect"
    assert start_up_settings(home, seeded=False, template=template) == {}  # no database yet
    assert seed_database(home, template)
    assert start_up_settings(home, seeded=True, template=template) == {
        MIGRATE_SETTING: "false",
        REGISTER_SETTING: "false",
    }
    assert start_up_settings(home, seeded=False, template=template) == {MIGRATE_SETTING: "false"}
    older = tmp_path / "older"
    older.mkdir()
    (older / DATABASE).write_bytes(template.read_bytes())
    with closing(sqlite3.connect(older / DATABASE)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = 'an-older-revision'")
    assert start_up_settings(older, seeded=False, template=template) == {}  # Prefect migrates it
    os.environ[DATABASE_URL_SETTING] = f"sqlite+aiosqlite:///{home / DATABASE}"
    assert start_up_settings(home, seeded=False, template=template) == {}


def test_a_new_warehouse_starts_from_the_template_and_an_existing_database_is_never_replaced(prefect_env, template):
    home = prefect_env / "_prefect"
    assert seed_database(home, template)
    assert (home / DATABASE).read_bytes() == template.read_bytes()
    server, api_url = temporary_server_url(launch_temporary_server())
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop(grace_seconds=5)
    assert _schema(home / DATABASE) == _schema(template)  # the server's start-up migration found nothing to do
    assert _block_types(home / DATABASE) == _block_types(template)
    assert "block_auto_registration" in (home / "memo_store.toml").read_text()  # later starts skip registering
    used = (home / DATABASE).read_bytes()
    assert not seed_database(home, template)
    assert (home / DATABASE).read_bytes() == used
    os.environ[DATABASE_URL_SETTING] = "sqlite+aiosqlite:////elsewhere/prefect.db"
    assert not seed_database(prefect_env / "other", template)
    assert not (prefect_env / "other" / DATABASE).exists()


def test_a_database_created_while_the_template_is_copied_is_kept(tmp_path, monkeypatch):
    """Two runs starting at once on a new warehouse: the one whose copy lands second leaves the first's alone."""
    monkeypatch.delenv(DATABASE_URL_SETTING, raising=False)
    template, home = tmp_path / "template.db", tmp_path / "home"
    template.write_bytes(b"the template")
    copy = prefect_template.shutil.copyfile

    def copy_while_another_run_seeds(source, target):
        (home / DATABASE).write_bytes(b"the other run's database")
        return copy(source, target)

    monkeypatch.setattr(prefect_template.shutil, "copyfile", copy_while_another_run_seeds)
    assert not seed_database(home, template)
    assert (home / DATABASE).read_bytes() == b"the other run's database"
    assert [p.name for p in home.iterdir()] == [DATABASE]  # no partial copy left behind
