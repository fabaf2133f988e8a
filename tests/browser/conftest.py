"""Fixtures of the real-browser test: one JupyterLab server and one Chromium per session.

Everything the server and the kernels write goes into the session's temporary folder:
Jupyter's config, data and runtime folders, JupyterLab's settings and workspaces,
IPython's folder, the course cache (``MNAD_CACHE``) and copies of the notebooks, so the
user's ``~/.jupyter`` and the stored notebooks are never touched. The server runs in its
own process group and is stopped, kernels included, at the end of the session even when
a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab user settings for the test server: every cell stays in the DOM (no windowed
# rendering), the notebook's kernel starts without a "Select Kernel" dialog, no news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def find_chromium() -> str | None:
    """Chromium's executable: ``$MNAD_CHROMIUM``, else ``chromium`` or ``chromium-browser``."""
    explicit = os.environ.get("MNAD_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Lab:
    """A running JupyterLab server: its base URL, token and served folder."""

    url: str
    token: str
    folder: Path
    log: Path

    def api(self, method: str, path: str) -> object:
        """Call the server's REST API; returns the decoded JSON (None when empty)."""
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server shuts its kernels down), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # kernels left behind, if any
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable, or a visible skip saying how to get one."""
    path = find_chromium()
    explicit = os.environ.get("MNAD_CHROMIUM")
    if path is None and explicit:
        pytest.skip(f"browser test skipped: $MNAD_CHROMIUM={explicit} is not an executable")
    if path is None:
        pytest.skip(
            "browser test skipped: Chromium not found ($MNAD_CHROMIUM, chromium or "
            "chromium-browser on PATH); install it with `apt-get install -y chromium`"
        )
    return path


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Folder for the screenshots: ``$BROWSER_ARTIFACTS`` or one under pytest's tmp dir."""
    env = os.environ.get("BROWSER_ARTIFACTS")
    folder = Path(env).resolve() if env else tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash[ARTIFACTS_KEY] = folder
    return folder


ARTIFACTS_KEY = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    """Print where the screenshots are, pass or fail."""
    folder = config.stash.get(ARTIFACTS_KEY, None)
    if folder is not None:
        shots = sorted(p.name for p in folder.glob("*.png"))
        terminalreporter.write_line(f"browser test screenshots ({len(shots)}): {folder}")


@pytest.fixture(scope="session")
def lab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab server of this project's Python on a free port, in quick mode."""
    del chromium  # no browser, no server: the skip above comes first
    base = tmp_path_factory.mktemp("jupyterlab")
    dirs = {n: base / n for n in ("config", "data", "runtime", "ipython", "settings", "ws")}
    for d in dirs.values():
        d.mkdir()
    for rel, value in LAB_SETTINGS.items():
        target = dirs["settings"] / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    folder = base / "notebooks"
    folder.mkdir()
    (base / "cache").mkdir()
    # the committed study summaries the notebooks read as ../docs/studies/*.json
    shutil.copytree(ROOT / "docs" / "studies", base / "docs" / "studies")

    env = dict(os.environ)
    env.update(
        MNAD_QUICK="1",
        MNAD_CACHE=str(base / "cache"),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["ws"]),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['ws']}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    log = base / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}", token, folder, log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S} s:\n"
                        f"{server.log_tail()}"
                    )
                time.sleep(0.5)
        yield server
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def browser_context(chromium: str) -> Iterator[object]:
    """One headless Chromium (Debian's, driven by Playwright) with a fresh profile."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser test skipped: playwright is not installed"
    )
    with tempfile.TemporaryDirectory(prefix="mnad-chromium-") as profile:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 1000},
            )
            try:
                yield context
            finally:
                context.close()
