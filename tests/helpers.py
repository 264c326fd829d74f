"""Factories shared by the test suites (several teams add functions here; keep each one self-contained)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from model import checkpoint
from model.drsae import DrSAE
from model.presets import preset


def tiny_run(
    tmp_path: Path,
    hidden: int = 16,
    T: int = 3,
    name: str = "tiny",
    dataset: str = "mnist",
    seed: int = 0,
    results: dict | None = None,
) -> Path:
    """An untrained DrSAE(784, hidden, 10, T) saved as a run folder `tmp_path/name` (model.safetensors +
    config.json in the trainer's format), for tests that need a loadable checkpoint in milliseconds."""
    gen = torch.Generator().manual_seed(seed)
    model = DrSAE(784, hidden, 10, T)
    model.reset_parameters(generator=gen)
    run = Path(tmp_path) / name
    info = {
        "train": preset("smoke", hidden=hidden, T=T, dataset=dataset, seed=seed).to_dict(),
        "status": "finished",
        "results": results if results is not None else {"test_error": 90.0, "val_error": 90.0},
    }
    checkpoint.save_run(run, model, info)
    return run


# ---- Browser tests (tests/browser): Playwright driving Debian's Chromium ---------------------------------


def chromium_launch_args() -> dict:
    """Launch options for Debian's /usr/bin/chromium (Playwright's own browsers are not installed here)."""
    return {
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


class BrowserPage:
    """A Playwright page plus the base URL and every console error / uncaught exception seen on it."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base = base_url
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def screenshot(self, name: str, docs: bool = False, full_page: bool = True) -> Path:
        """Save test-artifacts/<name>.png; with docs and DRSAE_DOCS_SCREENSHOTS=1, also docs/screenshots/<name>.png
        (the README's pictures: refreshed on purpose, not by every test run)."""
        repo = Path(__file__).resolve().parents[1]
        out = repo / "test-artifacts" / f"{name}.png"
        out.parent.mkdir(exist_ok=True)
        self.page.evaluate("window.scrollTo(0, 0)")  # the sticky header would otherwise cover the top
        self.page.screenshot(path=str(out), full_page=full_page)
        if docs and os.environ.get("DRSAE_DOCS_SCREENSHOTS") == "1":
            (repo / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
            (repo / "docs" / "screenshots" / f"{name}.png").write_bytes(out.read_bytes())
        return out
