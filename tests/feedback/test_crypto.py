"""The envelope primitives and the key file, without a database."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest

from services.feedback.crypto import (
    DecryptionFailed,
    FileKeyProvider,
    KeyUnavailable,
    content_aad,
    content_key_aad,
    ensure_development_kek,
    new_kek_entry,
    new_key,
    open_sealed,
    parse_kek_file,
    peer_tag,
    rating_aad,
    seal,
    tally_key_aad,
    write_kek_file,
)
from services.feedback.keyring import Tally


def test_sealed_text_opens_only_with_its_key_and_binding() -> None:
    key = new_key()
    item, giver, receiver = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    aad = content_aad("feedback", item, giver, receiver)
    sealed = seal(key, b"well done", aad)
    assert b"well done" not in sealed
    assert seal(key, b"well done", aad) != sealed  # a fresh nonce each time
    assert open_sealed(key, sealed, aad) == b"well done"
    for other in (
        content_aad("feedback", uuid.uuid4(), giver, receiver),
        content_aad("feedback", item, receiver, giver),
        content_aad("feedback-request", item, giver, receiver),
    ):
        with pytest.raises(DecryptionFailed):
            open_sealed(key, sealed, other)
    with pytest.raises(DecryptionFailed):
        open_sealed(new_key(), sealed, aad)
    with pytest.raises(DecryptionFailed):
        open_sealed(key, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
    assert content_key_aad(aad, giver) != content_key_aad(aad, receiver)


def test_a_sealed_rating_opens_only_in_its_scope_row_and_place() -> None:
    scope, row, manager = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    tally = Tally("upward-pulse", scope, new_key())
    sealed = tally.seal_rating(4, "upward-answer", row, manager)
    assert tally.open_rating(sealed, "upward-answer", row, manager) == 4
    assert len(sealed) == len(tally.seal_rating(1, "upward-answer", row, manager))  # no length tells the value
    for kind, other_row, where in (
        ("peer-rating", row, manager),
        ("upward-answer", uuid.uuid4(), manager),
        ("upward-answer", row, uuid.uuid4()),
    ):
        with pytest.raises(DecryptionFailed):
            tally.open_rating(sealed, kind, other_row, where)
    same_key_other_scope = Tally("upward-pulse", uuid.uuid4(), tally._key)
    with pytest.raises(DecryptionFailed):
        same_key_other_scope.open_rating(sealed, "upward-answer", row, manager)
    ratings = tally.seal_ratings({"craft": 5, "ownership": 2}, "peer-answer", row)
    assert tally.open_ratings(ratings, "peer-answer", row) == {"craft": 5, "ownership": 2}
    with pytest.raises(DecryptionFailed):
        tally.open_rating(ratings, "peer-answer", row)  # not a single rating
    assert tally_key_aad("peer-round", scope) != tally_key_aad("upward-pulse", scope)
    assert rating_aad("peer-rating", row, scope, manager) != rating_aad("peer-rating", row, scope, manager.bytes[::-1])


def test_peer_tags_differ_by_cycle_and_key() -> None:
    key, giver, cycle = new_key(), uuid.uuid4(), uuid.uuid4()
    tag = peer_tag(key, cycle, giver)
    assert len(tag) == 32
    assert tag == peer_tag(key, cycle, giver)
    assert tag != peer_tag(key, uuid.uuid4(), giver)
    assert tag != peer_tag(new_key(), cycle, giver)


async def test_file_provider_wraps_under_the_first_key_and_unwraps_with_any(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek"
    assert ensure_development_kek(path)
    assert not ensure_development_kek(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    provider = FileKeyProvider(path)
    (old,) = parse_kek_file(path.read_text())
    data_key = new_key()
    kek_id, wrapped = await provider.wrap(data_key, b"person")
    assert kek_id == old.id == provider.current_id
    assert data_key not in wrapped

    newer = new_kek_entry()
    write_kek_file(path, [newer, old])
    assert provider.current_id == newer.id  # re-read on change
    assert await provider.unwrap(old.id, wrapped, b"person") == data_key
    with pytest.raises(DecryptionFailed):
        await provider.unwrap(old.id, wrapped, b"another person")
    write_kek_file(path, [newer])
    with pytest.raises(KeyUnavailable):
        await provider.unwrap(old.id, wrapped, b"person")


def test_key_file_format(tmp_path: Path) -> None:
    entry = new_kek_entry()
    assert parse_kek_file(f"# comment\n\n{entry.line()}\n") == [entry]
    for bad in ("", "# only a comment\n", "abc:not base64!\n", "abc:aGVsbG8=\n"):
        with pytest.raises(ValueError, match="key"):
            parse_kek_file(bad)
    with pytest.raises(KeyUnavailable):
        FileKeyProvider(tmp_path / "missing")
