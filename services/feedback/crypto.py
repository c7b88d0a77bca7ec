"""Envelope encryption of feedback content, with the key-encryption key outside the database.

Three layers (docs/feedback.md, "Encryption at rest"):

* a **content key** per item (random, AES-256-GCM) encrypts the item's text;
* it is wrapped once per reader with that reader's **data key** (one per person);
* each data key is wrapped by the **key-encryption key** (KEK), which a :class:`KeyProvider`
  holds: a file (a Kubernetes Secret mounted as one) here, a KMS could implement the same three
  methods. The database only ever holds wrapped keys and ciphertext.

Every layer binds associated data, so a ciphertext or a wrapped key copied onto another row
(another item, giver, receiver or reader) fails to decrypt instead of showing the wrong text.
Ratings (360 answers, upward answers, peer ratings) take a shorter path: the service itself must
read them once, to compute the aggregate at release, so each round, pulse or cycle has one
random **tally key**, wrapped by the KEK alone, which seals each answer's ratings bound to the
answer and its round. The key is destroyed at release, after which no individual rating can be
read by anyone, the service included.

This module is pure apart from reading and writing the key file; the database side is in
``keyring.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """A key needed to decrypt is gone (crypto-shredded) or was never there."""


class DecryptionFailed(Exception):
    """The ciphertext or its associated data was altered, or belongs to another row."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM with a random nonce; the nonce travels in front of the ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("ciphertext does not belong to this row or was altered") from exc


def _ids(*parts: uuid.UUID | str | bytes | None) -> bytes:
    return b"|".join(
        part.bytes if isinstance(part, uuid.UUID) else part if isinstance(part, bytes) else (part or "").encode()
        for part in parts
    )


def content_aad(kind: str, object_id: uuid.UUID, author_id: uuid.UUID, subject_id: uuid.UUID | None) -> bytes:
    """What a content ciphertext is bound to: the kind of object, its id, who wrote it, about whom."""
    return b"meritloop/feedback/content/v1|" + _ids(kind, object_id, author_id, subject_id)


def content_key_aad(content: bytes, reader_id: uuid.UUID) -> bytes:
    """A wrapped content key is bound to its object's content binding and to its one reader."""
    return b"meritloop/feedback/content-key/v1|" + content + b"|" + reader_id.bytes


def data_key_aad(person_id: uuid.UUID) -> bytes:
    return b"meritloop/feedback/data-key/v1|" + person_id.bytes


def service_key_aad(name: str) -> bytes:
    return b"meritloop/feedback/service-key/v1|" + name.encode()


def tally_key_aad(kind: str, scope_id: uuid.UUID) -> bytes:
    """A wrapped tally key is bound to its one round, pulse or cycle."""
    return b"meritloop/feedback/tally-key/v1|" + _ids(kind, scope_id)


def rating_aad(kind: str, row_id: uuid.UUID, scope_id: uuid.UUID, *bound: uuid.UUID | bytes) -> bytes:
    """What a sealed rating is bound to: the kind of answer, its row, its round/pulse/cycle and
    whatever else decides where it counts (the manager rated, the receiver, the giver's tag)."""
    return b"meritloop/feedback/rating/v1|" + _ids(kind, row_id, scope_id, *bound)


PEER_TAG_KEY = "peer-rater-tag"


def peer_tag(key: bytes, cycle_id: uuid.UUID, giver_id: uuid.UUID) -> bytes:
    """Stands for the giver of a peer rating: stable within a cycle, meaningless without the key."""
    return hmac.new(key, b"meritloop/feedback/peer-rater/v1|" + cycle_id.bytes + giver_id.bytes, "sha256").digest()


class KeyProvider(Protocol):
    """Holds the key-encryption key(s) outside the database; a KMS client can implement this."""

    @property
    def current_id(self) -> str: ...

    async def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        """Wrap under the current KEK; returns the KEK's id and the wrapped key."""
        ...

    async def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes: ...


@dataclass(frozen=True)
class KekEntry:
    id: str
    key: bytes

    def line(self) -> str:
        return f"{self.id}:{base64.b64encode(self.key).decode()}"


def kek_id(key: bytes) -> str:
    # Derived from the key, so the same file read on every replica names its keys alike.
    return hashlib.sha256(b"meritloop-kek-id|" + key).hexdigest()[:16]


def new_kek_entry() -> KekEntry:
    key = secrets.token_bytes(KEY_BYTES)
    return KekEntry(kek_id(key), key)


def parse_kek_file(text: str) -> list[KekEntry]:
    """One ``id:base64key`` per line, the current KEK first; older ones still unwrap until rotated out."""
    entries: list[KekEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        ident, sep, encoded = line.rpartition(":")
        try:
            key = base64.b64decode(encoded if sep else line, validate=True)
        except ValueError as exc:
            raise ValueError(f"key file line {number} is not base64") from exc
        if len(key) != KEY_BYTES:
            raise ValueError(f"key file line {number}: a KEK is {KEY_BYTES} bytes, not {len(key)}")
        entries.append(KekEntry(ident if sep else kek_id(key), key))
    if not entries:
        raise ValueError("the key file holds no key")
    return entries


def write_kek_file(path: Path, entries: list[KekEntry]) -> None:
    """Owner-only from the first byte (created 0600), replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# Meritloop feedback key-encryption keys: current first. Never store in the database.\n")
        handle.write("".join(entry.line() + "\n" for entry in entries))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def ensure_development_kek(path: Path) -> bool:
    """Create a KEK file if there is none; True when one was made."""
    if path.exists():
        return False
    write_kek_file(path, [new_kek_entry()])
    return True


class FileKeyProvider:
    """KEKs read from a file (or a Kubernetes Secret mounted as a file).

    The file is read again whenever it changes, so a rotation (``meritloop feedback-keys
    rotate``) reaches running services without a restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: int | None = None
        self.entries: dict[str, bytes] = {}
        self._current = KekEntry("", b"")
        self._refresh()

    def _refresh(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
            if stamp == self._stamp:
                return
            entries = parse_kek_file(self.path.read_text())
        except FileNotFoundError as exc:
            raise KeyUnavailable(f"no key-encryption key file at {self.path}") from exc
        self.entries = {entry.id: entry.key for entry in entries}
        self._current, self._stamp = entries[0], stamp

    @property
    def current_id(self) -> str:
        self._refresh()
        return self._current.id

    async def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        self._refresh()
        return self._current.id, seal(self._current.key, key, aad)

    async def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        self._refresh()
        kek = self.entries.get(kek_id)
        if kek is None:
            raise KeyUnavailable(f"key-encryption key {kek_id} is not in the key file")
        return open_sealed(kek, wrapped, aad)
