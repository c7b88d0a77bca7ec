"""The database side of feedback encryption: data keys per person, content keys per reader,
tally keys per round, pulse or cycle.

Wrapped keys and ciphertext live in the feedback database; the KEK that unwraps the data keys
does not (``crypto.KeyProvider``). Unwrapped keys live only in memory for one request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.crypto import (
    PEER_TAG_KEY,
    DecryptionFailed,
    FileKeyProvider,
    KeyProvider,
    KeyUnavailable,
    content_aad,
    content_key_aad,
    data_key_aad,
    ensure_development_kek,
    new_key,
    open_sealed,
    peer_tag,
    rating_aad,
    seal,
    service_key_aad,
    tally_key_aad,
)
from services.feedback.models import ContentKey, DataKey, ServiceKey, TallyKey
from shared.database import SessionDep, dialect_insert, utcnow
from shared.errors import ServiceUnavailable
from shared.openapi import register_statuses
from shared.settings import Environment, Settings


def provider_from_settings(settings: Settings) -> KeyProvider:
    path = settings.feedback_kek_path()
    if settings.environment is not Environment.production:
        # Development and tests make their own; production must be given one (a Secret).
        ensure_development_kek(path)
    return FileKeyProvider(path)


class Sealed:
    """What one object's ciphertext is bound to (see ``crypto.content_aad``)."""

    def __init__(self, kind: str, object_id: uuid.UUID, author_id: uuid.UUID, subject_id: uuid.UUID | None) -> None:
        self.object_id = object_id
        self.aad = content_aad(kind, object_id, author_id, subject_id)


# What a tally key seals the ratings of.
PEER_ROUND, UPWARD_PULSE, PEER_CYCLE = "peer-round", "upward-pulse", "peer-cycle"


def _rating(value: object) -> int:
    # bool is an int too, and never a rating.
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecryptionFailed("a sealed rating is not a rating")
    return value


class Tally:
    """The unwrapped tally key of one round, pulse or cycle: seals and opens its answers' ratings.

    Every rating is bound to its row, this scope and what decides where it counts, so a sealed
    value copied onto another row, round or person fails to open instead of counting there.
    Ratings are 1-5, so every sealed value of a kind has the same length.
    """

    def __init__(self, kind: str, scope_id: uuid.UUID, key: bytes) -> None:
        self.kind = kind
        self.scope_id = scope_id
        self._key = key

    def _seal(self, value: object, answer_kind: str, row_id: uuid.UUID, bound: tuple[uuid.UUID | bytes, ...]) -> bytes:
        plaintext = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return seal(self._key, plaintext, rating_aad(answer_kind, row_id, self.scope_id, *bound))

    def _open(self, sealed: bytes, answer_kind: str, row_id: uuid.UUID, bound: tuple[uuid.UUID | bytes, ...]) -> object:
        plaintext = open_sealed(self._key, sealed, rating_aad(answer_kind, row_id, self.scope_id, *bound))
        return json.loads(plaintext)

    def seal_rating(self, rating: int, answer_kind: str, row_id: uuid.UUID, *bound: uuid.UUID | bytes) -> bytes:
        return self._seal(rating, answer_kind, row_id, bound)

    def open_rating(self, sealed: bytes, answer_kind: str, row_id: uuid.UUID, *bound: uuid.UUID | bytes) -> int:
        return _rating(self._open(sealed, answer_kind, row_id, bound))

    def seal_ratings(
        self, ratings: dict[str, int], answer_kind: str, row_id: uuid.UUID, *bound: uuid.UUID | bytes
    ) -> bytes:
        return self._seal(ratings, answer_kind, row_id, bound)

    def open_ratings(
        self, sealed: bytes, answer_kind: str, row_id: uuid.UUID, *bound: uuid.UUID | bytes
    ) -> dict[str, int]:
        value = self._open(sealed, answer_kind, row_id, bound)
        if not isinstance(value, dict):
            raise DecryptionFailed("sealed ratings are not ratings per competency")
        return {str(key): _rating(rating) for key, rating in value.items()}


class Keyring:
    def __init__(self, session: AsyncSession, provider: KeyProvider) -> None:
        self.session = session
        self.provider = provider
        self._data_keys: dict[uuid.UUID, bytes] = {}
        self._tallies: dict[tuple[str, uuid.UUID], Tally] = {}

    async def data_key(self, person_id: uuid.UUID, *, create: bool) -> bytes:
        """The person's data key; made on first use when ``create``. Erased people have none."""
        if person_id in self._data_keys:
            return self._data_keys[person_id]
        row = await self.session.get(DataKey, person_id)
        if row is None:
            if not create:
                raise KeyUnavailable(f"person {person_id} has no data key")
            kek_id, wrapped = await self.provider.wrap(new_key(), data_key_aad(person_id))
            values = {"person_id": person_id, "kek_id": kek_id, "wrapped_key": wrapped, "created_at": utcnow()}
            await self._insert_if_absent(DataKey, values)
            row = await self.session.get(DataKey, person_id, populate_existing=True)
            assert row is not None
        if row.wrapped_key is None or row.kek_id is None:
            raise KeyUnavailable(f"person {person_id} was erased")
        # Unwrapped from what is stored, so a concurrent first use that won the insert is used alike.
        key = await self.provider.unwrap(row.kek_id, row.wrapped_key, data_key_aad(person_id))
        self._data_keys[person_id] = key
        return key

    async def _insert_if_absent(
        self, model: type[DataKey] | type[ServiceKey] | type[TallyKey], values: dict[str, Any]
    ) -> None:
        """Two requests may make the same person's first key at once: the second keeps the first's."""
        await self.session.execute(dialect_insert(self.session, model).values(**values).on_conflict_do_nothing())

    async def service_key(self, name: str) -> bytes:
        """A key of the service itself, made on first use."""
        row = await self.session.get(ServiceKey, name)
        if row is None:
            kek_id, wrapped = await self.provider.wrap(new_key(), service_key_aad(name))
            values = {"name": name, "kek_id": kek_id, "wrapped_key": wrapped, "created_at": utcnow()}
            await self._insert_if_absent(ServiceKey, values)
            row = await self.session.get(ServiceKey, name, populate_existing=True)
            assert row is not None
        return await self.provider.unwrap(row.kek_id, row.wrapped_key, service_key_aad(name))

    async def peer_tag(self, cycle_id: uuid.UUID, giver_id: uuid.UUID) -> bytes:
        return peer_tag(await self.service_key(PEER_TAG_KEY), cycle_id, giver_id)

    async def tally(self, kind: str, scope_id: uuid.UUID, *, create: bool) -> Tally:
        """The scope's tally key, made with its first answer when ``create``.

        KeyUnavailable when there is none, or it was destroyed at release (then nothing of the
        scope is ever sealed or opened again).
        """
        if (kind, scope_id) in self._tallies:
            return self._tallies[kind, scope_id]
        row = await self.session.get(TallyKey, (kind, scope_id))
        if row is None:
            if not create:
                raise KeyUnavailable(f"{kind} {scope_id} has no tally key")
            kek_id, wrapped = await self.provider.wrap(new_key(), tally_key_aad(kind, scope_id))
            values = {"kind": kind, "scope_id": scope_id, "kek_id": kek_id, "wrapped_key": wrapped}
            await self._insert_if_absent(TallyKey, values)
            row = await self.session.get(TallyKey, (kind, scope_id), populate_existing=True)
            assert row is not None
        if row.wrapped_key is None or row.kek_id is None:
            raise KeyUnavailable(f"the tally key of {kind} {scope_id} was destroyed at release")
        key = await self.provider.unwrap(row.kek_id, row.wrapped_key, tally_key_aad(kind, scope_id))
        tally = Tally(kind, scope_id, key)
        self._tallies[kind, scope_id] = tally
        return tally

    async def destroy_tally(self, kind: str, scope_id: uuid.UUID) -> None:
        """After release no individual rating is needed: forget the key, keep a tombstone."""
        self._tallies.pop((kind, scope_id), None)
        await destroy_tally(self.session, kind, scope_id)

    async def is_erased(self, person_id: uuid.UUID) -> bool:
        row = await self.session.get(DataKey, person_id)
        return row is not None and row.erased_at is not None

    async def seal(self, sealed: Sealed, plaintext: str, readers: Iterable[uuid.UUID]) -> bytes:
        """Encrypt under a fresh content key and wrap that key for each reader."""
        content_key = new_key()
        ciphertext = seal(content_key, plaintext.encode(), sealed.aad)
        for reader in dict.fromkeys(readers):
            await self._wrap_for(sealed, content_key, reader)
        return ciphertext

    async def _wrap_for(self, sealed: Sealed, content_key: bytes, reader: uuid.UUID) -> None:
        data_key = await self.data_key(reader, create=True)
        wrapped = seal(data_key, content_key, content_key_aad(sealed.aad, reader))
        await self.session.merge(ContentKey(object_id=sealed.object_id, reader_id=reader, wrapped_key=wrapped))

    async def _content_key(self, sealed: Sealed, reader: uuid.UUID, wrapped: bytes | None = None) -> bytes:
        if wrapped is None:
            row = await self.session.get(ContentKey, (sealed.object_id, reader))
            if row is None:
                raise KeyUnavailable(f"{reader} holds no key to {sealed.object_id}")
            wrapped = row.wrapped_key
        data_key = await self.data_key(reader, create=False)
        return open_sealed(data_key, wrapped, content_key_aad(sealed.aad, reader))

    async def open(self, sealed: Sealed, ciphertext: bytes, reader: uuid.UUID) -> str:
        return open_sealed(await self._content_key(sealed, reader), ciphertext, sealed.aad).decode()

    async def open_many(
        self,
        objects: Sequence[tuple[Sealed, bytes]],
        reader: uuid.UUID,
        wrapped: dict[uuid.UUID, bytes | None] | None = None,
    ) -> dict[uuid.UUID, str | None]:
        """Decrypt a page for one reader with one key query; None where the reader's key is gone.

        ``wrapped``: the reader's wrapped content keys, when the caller read them with the page.
        """
        if wrapped is None:
            ids = [sealed.object_id for sealed, _ in objects]
            rows = await self.session.execute(
                select(ContentKey.object_id, ContentKey.wrapped_key).where(
                    ContentKey.reader_id == reader, ContentKey.object_id.in_(ids)
                )
            )
            wrapped = {object_id: key for object_id, key in rows.tuples()}
        opened: dict[uuid.UUID, str | None] = {}
        for sealed, ciphertext in objects:
            key_bytes = wrapped.get(sealed.object_id)
            try:
                if key_bytes is None:
                    raise KeyUnavailable(str(sealed.object_id))
                content_key = await self._content_key(sealed, reader, key_bytes)
            except KeyUnavailable:
                opened[sealed.object_id] = None
                continue
            opened[sealed.object_id] = open_sealed(content_key, ciphertext, sealed.aad).decode()
        return opened

    async def grant(self, sealed: Sealed, through: uuid.UUID, reader: uuid.UUID) -> None:
        """Give ``reader`` a key to an object ``through`` can already read (sharing)."""
        await self._wrap_for(sealed, await self._content_key(sealed, through), reader)

    async def revoke(self, object_id: uuid.UUID, reader: uuid.UUID) -> None:
        await self.session.execute(
            delete(ContentKey).where(ContentKey.object_id == object_id, ContentKey.reader_id == reader)
        )

    async def erase(self, person_id: uuid.UUID) -> bool:
        """Crypto-shred: drop the person's data key and every content key wrapped for them.

        False when they were erased already. The tombstone keeps a new key from being made later.
        """
        row = await self.session.get(DataKey, person_id, with_for_update=True)
        if row is not None and row.erased_at is not None:
            return False
        if row is None:
            row = DataKey(person_id=person_id)
            self.session.add(row)
        row.kek_id, row.wrapped_key, row.erased_at = None, None, utcnow()
        await self.session.execute(delete(ContentKey).where(ContentKey.reader_id == person_id))
        self._data_keys.pop(person_id, None)
        await self.session.flush()
        return True


async def rewrap_data_keys(session: AsyncSession, provider: KeyProvider, *, batch: int = 500) -> int:
    """Re-wrap every data key (and service key) not under the provider's current KEK; content is not touched."""
    current = provider.current_id
    done = 0
    for service_key in await session.scalars(select(ServiceKey).where(ServiceKey.kek_id != current)):
        aad = service_key_aad(service_key.name)
        key = await provider.unwrap(service_key.kek_id, service_key.wrapped_key, aad)
        service_key.kek_id, service_key.wrapped_key = await provider.wrap(key, aad)
        service_key.rotated_at = utcnow()
    while True:
        rows = list(
            await session.scalars(
                select(DataKey)
                .where(DataKey.wrapped_key.is_not(None), DataKey.kek_id != current)
                .order_by(DataKey.person_id)
                .limit(batch)
            )
        )
        if not rows:
            return done
        now = utcnow()
        for row in rows:
            assert row.wrapped_key is not None
            assert row.kek_id is not None
            aad = data_key_aad(row.person_id)
            key = await provider.unwrap(row.kek_id, row.wrapped_key, aad)
            row.kek_id, row.wrapped_key = await provider.wrap(key, aad)
            row.rotated_at = now
        await session.flush()
        done += len(rows)


async def rewrap_tally_keys(session: AsyncSession, provider: KeyProvider, *, batch: int = 500) -> int:
    """Re-wrap every live tally key not under the current KEK; the sealed ratings are not touched."""
    current = provider.current_id
    done = 0
    while True:
        rows = list(
            await session.scalars(
                select(TallyKey)
                .where(TallyKey.wrapped_key.is_not(None), TallyKey.kek_id != current)
                .order_by(TallyKey.kind, TallyKey.scope_id)
                .limit(batch)
            )
        )
        if not rows:
            return done
        now = utcnow()
        for row in rows:
            assert row.wrapped_key is not None
            assert row.kek_id is not None
            aad = tally_key_aad(row.kind, row.scope_id)
            key = await provider.unwrap(row.kek_id, row.wrapped_key, aad)
            row.kek_id, row.wrapped_key = await provider.wrap(key, aad)
            row.rotated_at = now
        await session.flush()
        done += len(rows)


async def kek_ids_in_use(session: AsyncSession) -> set[str]:
    rows = await session.scalars(select(DataKey.kek_id).where(DataKey.kek_id.is_not(None)).distinct())
    service = await session.scalars(select(ServiceKey.kek_id).distinct())
    tally = await session.scalars(select(TallyKey.kek_id).where(TallyKey.kek_id.is_not(None)).distinct())
    return {row for row in rows if row is not None} | set(service) | {row for row in tally if row is not None}


def _provider(request: Request) -> KeyProvider:
    provider: KeyProvider | None = getattr(request.app.state, "feedback_keys", None)
    if provider is None:
        try:
            provider = provider_from_settings(request.app.state.settings)
        except (KeyUnavailable, ValueError) as exc:
            raise ServiceUnavailable("The feedback key-encryption key is not available.") from exc
        request.app.state.feedback_keys = provider
    return provider


async def keyring(request: Request, session: SessionDep) -> Keyring:
    return Keyring(session, _provider(request))


register_statuses(keyring, 503)
KeyringDep = Annotated[Keyring, Depends(keyring)]


async def destroy_tally(session: AsyncSession, kind: str, scope_id: uuid.UUID) -> None:
    """Forget a scope's tally key and keep a tombstone, so no new key is ever made for it; needs
    no key provider, so a cancellation can do it without one."""
    row = await session.get(TallyKey, (kind, scope_id), with_for_update=True)
    if row is None:
        row = TallyKey(kind=kind, scope_id=scope_id)
        session.add(row)
    row.kek_id, row.wrapped_key, row.destroyed_at = None, None, utcnow()
    await session.flush()
