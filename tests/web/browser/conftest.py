"""Browser tests: the system's Chromium driven by Playwright over the web app, the real services, the
Temporal dev server and the workflow worker (as tests/cycles runs them). Skipped without a Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.cycles.conftest import cycle_worker, settings

__all__ = ["chromium", "cycle_worker", "settings"]

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = Path(os.environ.get("MERITLOOP_TEST_ARTEFACTS", ROOT / "test-artefacts")) / "web"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``MERITLOOP_CHROMIUM``, else a Chromium on PATH (Debian's ``chromium`` package)."""
    chosen = os.environ.get("MERITLOOP_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip("no Chromium found: apt-get install chromium (or set MERITLOOP_CHROMIUM)")
    return found


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Path:
    folder: Path = ARTEFACTS / str(request.node.name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder
