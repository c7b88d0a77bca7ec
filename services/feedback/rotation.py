"""Rotating the feedback key-encryption key: ``meritloop feedback-keys rotate``.

Only the data keys, service keys and live tally keys are re-wrapped; content, content keys and
sealed ratings are not touched, so a rotation costs one small row per person (and per open round,
pulse or cycle) however much feedback exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.feedback.crypto import FileKeyProvider, KekEntry, new_kek_entry, parse_kek_file, write_kek_file
from services.feedback.keyring import kek_ids_in_use, rewrap_data_keys, rewrap_tally_keys
from shared.database import create_engine, create_sessionmaker
from shared.settings import Settings


@dataclass(frozen=True)
class Rotation:
    current: str
    rewrapped: int
    kept: list[str]
    removed: list[str]
    tally_keys: int = 0


async def rotate_kek(settings: Settings, *, generate: bool = True, prune: bool = True) -> Rotation:
    """Put a new KEK first in the key file (``generate``), re-wrap every data key under the file's
    first KEK (tally keys too), then (``prune``) drop older KEKs no key uses any more.

    Safe to stop at any point and run again: until the last step the file holds every KEK a
    row may name, and running services re-read the file when it changes.
    """
    path = settings.feedback_kek_path()
    entries = parse_kek_file(path.read_text())
    if generate:
        entries = [new_kek_entry(), *entries]
        write_kek_file(path, entries)
    provider = FileKeyProvider(path)
    engine = create_engine(settings.database_url("feedback"))
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            rewrapped = await rewrap_data_keys(session, provider)
            tally_keys = await rewrap_tally_keys(session, provider)
        kept: list[KekEntry] = [entries[0]]
        removed: list[KekEntry] = []
        async with sessionmaker() as session:
            in_use = await kek_ids_in_use(session)
        for entry in entries[1:]:
            (kept if not prune or entry.id in in_use else removed).append(entry)
        if removed:
            write_kek_file(path, kept)
    finally:
        await engine.dispose()
    return Rotation(entries[0].id, rewrapped, [entry.id for entry in kept], [entry.id for entry in removed], tally_keys)
