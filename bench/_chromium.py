"""Headless Chromium screenshots for the bench scripts (Debian's `chromium`, no network, a throw-away profile)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium(install: bool = False) -> str:
    """Path of the browser; with `install`, apt-get installs Debian's chromium when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found and install:
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True)
        found = shutil.which("chromium")
    if not found:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    return found


def offline_prefix() -> list[str]:
    """`unshare -rn` when a new network namespace can be made here, else nothing."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn"]
    return []


def screenshot(page: Path, png: Path, width: int, height: int, install: bool = False, offline: bool = False) -> Path:
    """PNG of a local page at width × height; `offline`: in a network namespace of its own when the machine
    allows it, and behind an unreachable proxy, so only local files can style the page."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            *(offline_prefix() if offline else []),
            chromium(install),
            *CHROMIUM_FLAGS,
            *(["--proxy-server=127.0.0.1:9"] if offline else []),  # nothing listens there: any fetch fails
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return png
