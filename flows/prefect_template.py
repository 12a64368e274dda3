"""A fresh warehouse's Prefect database, started from a copy of an empty one Prefect itself migrated.

A Prefect server on a new warehouse first runs every database migration (~5 s of one core on a 2-core host:
13.4 s to the first answer instead of 8.4 s), then registers its block types (~1.2 s), while the run waits for
it. `make install` runs this module once per installed Prefect version: `prefect server database upgrade` on an
empty SQLite file, then Prefect's block auto-registration into it, compacted, kept in the environment
(`<sys.prefix>/share/docpipe/prefect-<version>.db`). A server about to start on a warehouse without a database
gets a copy of it (`seed_database`). Without the file (an install without make, another Prefect version), or with
a database configured elsewhere (PREFECT_API_DATABASE_CONNECTION_URL), nothing is copied and Prefect migrates as
before. An existing database is never touched.

`start_up_settings` then spares the server what the copy already holds: the start-up migration when the database
is at the template's Alembic revision (a no-op there, ~0.8 s), and the block registration on a database just
copied (the memo Prefect writes in PREFECT_HOME spares the later starts).

    .venv/bin/python -m flows.prefect_template   # (re)build the file; prints its path
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DATABASE = "prefect.db"  # Prefect's default database file in PREFECT_HOME
DATABASE_URL_SETTING = "PREFECT_API_DATABASE_CONNECTION_URL"
MIGRATE_SETTING = "PREFECT_API_DATABASE_MIGRATE_ON_START"
REGISTER_SETTING = "PREFECT_API_BLOCKS_REGISTER_ON_START"
# Prefect's block auto-registration, as its server runs it at start-up (prefect/server/api/server.py)
_REGISTER_BLOCKS = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration


async def register():
    db = provide_database_interface()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)
    await (await db.engine()).dispose()


asyncio.run(register())
"""


def template_path() -> Path | None:
    """Where the template of the installed Prefect version is kept (None: Prefect is not installed)."""
    try:
        prefect_version = version("prefect")
    except PackageNotFoundError:
        return None
    return Path(sys.prefix) / "share" / "docpipe" / f"prefect-{prefect_version}.db"


def _usable_template(template: Path | None) -> Path | None:
    """`template` (default: `template_path()`) when Prefect uses its default database and the file exists."""
    template = template or template_path()
    if os.environ.get(DATABASE_URL_SETTING) or template is None or not template.is_file():
        return None
    return template


def seed_database(home: Path, template: Path | None = None) -> bool:
    """Copy the template (default: `template_path()`) to `home`'s database when there is none yet and Prefect
    uses its default one; True when copied. The copy is linked into place only if the name is still free, so a
    server never sees half a file and two runs starting at once never swap a database under each other."""
    template = _usable_template(template)
    target = Path(home) / DATABASE
    if template is None or target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{DATABASE}.{os.getpid()}.partial")
    shutil.copyfile(template, partial)
    try:
        os.link(partial, target)  # fails when the name was taken meanwhile
    except FileExistsError:
        return False
    finally:
        partial.unlink()
    return True


def revision(database: Path) -> str | None:
    """The Alembic revision a Prefect SQLite database is at (None: not a readable Prefect database)."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return rows[0][0] if len(rows) == 1 else None


def start_up_settings(home: Path, seeded: bool, template: Path | None = None) -> dict[str, str]:
    """Prefect settings for a server starting on `home`'s default database (module docstring): no start-up
    migration when the database is at the template's revision, no block registration when it was just `seeded`
    from the template. Empty when Prefect uses another database or there is no template."""
    template = _usable_template(template)
    at_head = revision(template) if template is not None else None
    if at_head is None or revision(Path(home) / DATABASE) != at_head:
        return {}
    return {MIGRATE_SETTING: "false"} | ({REGISTER_SETTING: "false"} if seeded else {})


def build_template(path: Path) -> Path:
    """Run Prefect's migrations on an empty database (a child process, as `prefect server database upgrade -y`),
    then its block registration, and write it, compacted into one file, to `path`."""
    with tempfile.TemporaryDirectory() as tmp:
        database, compact = Path(tmp) / DATABASE, Path(tmp) / "compact.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {
            "PREFECT_HOME": tmp,
            DATABASE_URL_SETTING: f"sqlite+aiosqlite:///{database}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        for what, command in (
            ("database migration", [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"]),
            ("block registration", [sys.executable, "-c", _REGISTER_BLOCKS]),
        ):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                raise RuntimeError(f"Prefect's {what} failed:\n{done.stdout}{done.stderr}")
        with closing(sqlite3.connect(database)) as db:  # one file, whatever journal the migration left
            db.execute("VACUUM INTO ?", (str(compact),))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        shutil.copyfile(compact, partial)
        os.replace(partial, path)
    return path


def main() -> None:
    path = template_path()
    if path is None:
        raise SystemExit("Prefect is not installed in this environment")
    print(build_template(path))


if __name__ == "__main__":
    main()
