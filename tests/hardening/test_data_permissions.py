"""Least data on disk: the databases and their folder are readable by their owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.database import create_engine, owner_only_directory
from shared.migrations import upgrade_async


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The usual umask (022) leaves new files world-readable: the case to guard against.
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_files_and_a_new_data_folder_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data / 'feedback.db'}"
    await upgrade_async("feedback", url)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT count(*) FROM people"))
            files = sorted(data.iterdir())
            assert {file.name for file in files} >= {"feedback.db", "feedback.db-wal", "feedback.db-shm"}
            for file in files:
                assert mode(file) == 0o600, (file.name, oct(mode(file)))
    finally:
        await engine.dispose()
    assert mode(data) == 0o700


@pytest.mark.usefixtures("open_umask")
async def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "goals.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await engine.dispose()
    assert mode(database) == 0o600

    folder = tmp_path / "shared-folder"
    folder.mkdir(mode=0o755)
    owner_only_directory(folder)
    assert mode(folder) == 0o700
