"""Pages over the pay approval chain: the Temporal dev server and the workflow worker as in tests/cycles."""

from __future__ import annotations

from tests.cycles.conftest import cycle_worker, settings

__all__ = ["cycle_worker", "settings"]
