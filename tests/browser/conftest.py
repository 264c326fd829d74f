"""Browser-test fixtures: a live `uvicorn server.main:app` on a free port with a tiny trained model, and
Debian's headless Chromium driven by Playwright (no `playwright install`: /usr/bin/chromium)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model import data
from tests.helpers import BrowserPage, chromium_launch_args, tiny_run

REPO = Path(__file__).resolve().parents[2]

ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"
DOCS_MODEL = REPO / "models" / "default"  # the shipped default (it shows the paper's structure): docs screenshots
TINY = "tiny"
SHORT = "tiny-t5"  # T = 5, no model card
FASHION = "z-fashion-mnist-tiny-untrained-with-a-rather-long-model-name"  # sorts last: not the default pick

sync_api = pytest.importorskip("playwright.sync_api")
if not Path("/usr/bin/chromium").exists():
    pytest.skip("Debian chromium is not installed (/usr/bin/chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_tiny(models: Path) -> None:
    """A smoke-preset model with T = 11 (so the animation has the paper's 11 iterations), in seconds."""
    cmd = [sys.executable, "-m", "model.train", "--preset", "smoke", "--hidden", "64", "--T", "11",
           "--epochs", "3", "--out", str(models / TINY), "--no-progress", "--threads", "1"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, timeout=180)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The whole app (API + dashboard) in a subprocess; yields {url, models}."""
    root = tmp_path_factory.mktemp("drsae-browser")
    models, var = root / "models", root / "var"
    models.mkdir()
    _train_tiny(models)
    ids = [TINY]
    tiny_run(models, hidden=16, T=5, name=SHORT)  # untrained, T = 5: text must follow the model's own T
    if data.dataset_path("fashion-mnist").exists():
        # untrained, tiny, with a long folder name: Fashion-MNIST wording and the header's width
        tiny_run(models, hidden=16, T=11, name=FASHION, dataset="fashion-mnist")
    if (DOCS_MODEL / "model.safetensors").exists():
        shutil.copytree(DOCS_MODEL, models / "default", ignore=shutil.ignore_patterns("state.pt"))
        ids.append("default")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DRSAE_NO_DASHBOARD", "DRSAE_TOKEN", "DRSAE_API_URL")}
    env.update(DRSAE_MODELS_DIR=str(models), DRSAE_VAR_DIR=str(var), DRSAE_KILL_JOBS_ON_EXIT="1", DRSAE_DEVICE="cpu")
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "server.log", "w")  # noqa: SIM115  (closed in teardown)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}; see {ARTIFACTS / 'server.log'}")
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /api/health within 60 s")
            time.sleep(0.25)
        yield {"url": url, "models": ids, "docs_model": ids[-1]}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(**chromium_launch_args())
        yield b
        b.close()


@pytest.fixture(scope="session")
def desktop(browser) -> Iterator[object]:
    """One 1280x800 browser context for the suite: pages share its HTTP cache (Plotly loads once)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


@pytest.fixture
def page(desktop, live_server) -> Iterator[BrowserPage]:
    """A fresh page that records console errors and uncaught exceptions."""
    bp = BrowserPage(desktop.new_page(), live_server["url"])
    yield bp
    bp.page.close()
