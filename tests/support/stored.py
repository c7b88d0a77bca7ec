"""Every byte a service's database holds, to scan for what must never be stored in clear."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url


async def stored_bytes(database_url: str) -> bytes:
    """SQLite: the file with its write-ahead log; PostgreSQL: a data-only ``pg_dump``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(part.read_bytes() for part in path.parent.glob(path.name + "*"))
    if shutil.which("pg_dump") is None:
        pytest.skip("scanning a PostgreSQL database needs pg_dump")
    dump = await asyncio.to_thread(
        subprocess.run,
        ["pg_dump", "--data-only", "--inserts", url.set(drivername="postgresql").render_as_string(hide_password=False)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return dump.stdout
