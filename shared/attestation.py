"""Attested draft sources: what one service lets one reader see about one person, signed.

Services never call each other, and feedback text or private goal titles never travel on the
bus. So a review draft gets the goals' and feedback's texts the way a person does: the writer's
client asks each owning service for its ``draft-sources`` with the writer's own token, and
passes the answers on to reviews. Each answer is a ``SourceBundle``: the items the caller may
read under the issuer's rules, and an ``Attestation`` binding the issuer, the reader (the
caller), the subject person, a digest of the items and an expiry, signed with the issuer's own
Ed25519 key. Reviews checks the signature and that the reader is the writer and the subject the
person of the task, so a bundle cannot be forged, edited, replayed by someone else or reused for
another person.

Each issuer signs with a key of its own, derived from its ``MERITLOOP_SOURCE_SIGNING_KEY``
secret, and reviews holds only the issuers' public keys (``MERITLOOP_SOURCE_VERIFY_KEYS``,
printed by ``meritloop source-keys``). So reviews cannot sign a bundle at all, and goals cannot
sign as feedback (a bundle claiming ``feedback`` is checked with feedback's public key), as long
as the two issuers are given different secrets. Outside production, a service given no verify
keys derives them from its own ``MERITLOOP_SOURCE_SIGNING_KEY``: one development secret serves
all three.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, Field

from shared.settings import DEVELOPMENT_SOURCE_SIGNING_KEY, Environment, Settings

# 2: Ed25519 per issuer (1 was one HMAC key shared by all three services).
VERSION = 2
DEFAULT_TTL = timedelta(minutes=15)
MIN_KEY_LENGTH = 32
# What each bundle may carry: enough for a year of goals and 1:1s, not a dump of a database.
MAX_ITEMS = 200
MAX_TEXT = 2000
ISSUERS = ("goals", "feedback")


class SourceItemKind(StrEnum):
    goal = "goal"
    key_result = "key_result"
    milestone = "milestone"
    goal_check_in = "goal_check_in"
    praise = "praise"
    written_feedback = "written_feedback"
    checkin_agenda = "checkin_agenda"
    checkin_action = "checkin_action"
    own_note = "own_note"


ISSUER_KINDS: dict[str, frozenset[SourceItemKind]] = {
    "goals": frozenset(
        {SourceItemKind.goal, SourceItemKind.key_result, SourceItemKind.milestone, SourceItemKind.goal_check_in}
    ),
    "feedback": frozenset(
        {
            SourceItemKind.praise,
            SourceItemKind.written_feedback,
            SourceItemKind.checkin_agenda,
            SourceItemKind.checkin_action,
            SourceItemKind.own_note,
        }
    ),
}


class SourceItem(BaseModel):
    id: str = Field(
        min_length=3, max_length=120, description="`<issuer>:<kind>:<id>`, e.g. `goals:goal:<id>`: what a draft cites."
    )
    kind: SourceItemKind
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="What the item says, as a draft may use it.")
    date: str | None = Field(None, max_length=40, description="When it happened (ISO 8601), if it has a date.")


class Attestation(BaseModel):
    version: int = VERSION
    issuer: str = Field(max_length=40, description="The service that answered: `goals` or `feedback`.")
    reader_id: uuid.UUID = Field(description="Who asked: only their draft may use the bundle.")
    subject_id: uuid.UUID = Field(description="The person the items are about.")
    items_digest: str = Field(max_length=64, description="SHA-256 over the items' ids, kinds, dates and texts.")
    issued_at: datetime
    expires_at: datetime
    signature: str = Field(
        max_length=100, description="The issuer's Ed25519 signature of the canonical form, base64url."
    )


class SourceBundle(BaseModel):
    """What a ``draft-sources`` route answers, and what a draft request passes on unchanged."""

    items: list[SourceItem] = Field(max_length=MAX_ITEMS)
    attestation: Attestation


class AttestationRefused(ValueError):
    """A bundle failed verification; ``field`` names the part that is wrong (within the bundle)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class WeakSigningKey(ValueError):
    """Production with the development signing key, one too short, or no verify keys."""


def _secret(settings: Settings) -> str:
    value = settings.source_signing_key.get_secret_value()
    weak = value == DEVELOPMENT_SOURCE_SIGNING_KEY or len(value) < MIN_KEY_LENGTH
    if settings.environment is Environment.production and weak:
        raise WeakSigningKey(
            "MERITLOOP_SOURCE_SIGNING_KEY is the development key (or shorter than 32 characters); "
            "set a real one in production"
        )
    return value


def key_from_secret(secret: str, issuer: str) -> Ed25519PrivateKey:
    """The issuer's private key: a seed bound to the issuer's name, so one secret never signs for two issuers."""
    seed = hmac.new(secret.encode(), f"meritloop draft sources ed25519 {issuer}".encode(), hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key(settings: Settings, issuer: str) -> Ed25519PrivateKey:
    """The key with which ``issuer`` (goals or feedback) signs; production refuses a weak secret."""
    if issuer not in ISSUERS:
        raise ValueError(f"{issuer} does not issue draft sources")
    return key_from_secret(_secret(settings), issuer)


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verify_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """The issuers' public keys, for the verifier (reviews).

    From ``MERITLOOP_SOURCE_VERIFY_KEYS``; outside production, any issuer it leaves out gets the key derived
    from this service's own secret. Production needs both issuers named there, so that the verifier holds no
    secret that could sign."""
    keys: dict[str, Ed25519PublicKey] = {}
    for issuer, text in settings.source_verify_keys.items():
        if issuer not in ISSUERS:
            raise WeakSigningKey(f"MERITLOOP_SOURCE_VERIFY_KEYS names {issuer!r}; issuers are {', '.join(ISSUERS)}")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            keys[issuer] = Ed25519PublicKey.from_public_bytes(raw)
        except (ValueError, binascii.Error) as exc:
            raise WeakSigningKey(
                f"MERITLOOP_SOURCE_VERIFY_KEYS[{issuer}] is not an Ed25519 public key (32 bytes, base64url)"
            ) from exc
    missing = [issuer for issuer in ISSUERS if issuer not in keys]
    if missing and settings.environment is Environment.production:
        raise WeakSigningKey(
            f"MERITLOOP_SOURCE_VERIFY_KEYS has no key for {', '.join(missing)}; print them with `meritloop source-keys`"
        )
    for issuer in missing:
        keys[issuer] = key_from_secret(_secret(settings), issuer).public_key()
    return keys


def items_digest(items: Sequence[SourceItem]) -> str:
    rows = [[item.id, item.kind.value, item.date, hashlib.sha256(item.text.encode()).hexdigest()] for item in items]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _canonical(attestation: Attestation) -> bytes:
    body = {
        "v": attestation.version,
        "issuer": attestation.issuer,
        "reader": str(attestation.reader_id),
        "subject": str(attestation.subject_id),
        "items": attestation.items_digest,
        "iat": int(attestation.issued_at.timestamp()),
        "exp": int(attestation.expires_at.timestamp()),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign_bundle(
    key: Ed25519PrivateKey,
    *,
    issuer: str,
    reader_id: uuid.UUID,
    subject_id: uuid.UUID,
    items: Sequence[SourceItem],
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> SourceBundle:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    attestation = Attestation(
        issuer=issuer,
        reader_id=reader_id,
        subject_id=subject_id,
        items_digest=items_digest(items),
        issued_at=issued,
        expires_at=issued + ttl,
        signature="",
    )
    attestation.signature = base64.urlsafe_b64encode(key.sign(_canonical(attestation))).decode().rstrip("=")
    return SourceBundle(items=list(items), attestation=attestation)


def _genuine(key: Ed25519PublicKey, attestation: Attestation) -> bool:
    text = attestation.signature
    try:
        signature = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key.verify(signature, _canonical(attestation))
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True


def verify_bundle(
    keys: Mapping[str, Ed25519PublicKey],
    bundle: SourceBundle,
    *,
    reader_id: uuid.UUID,
    subject_id: uuid.UUID,
    issuers: Collection[str] = ISSUERS,
    now: datetime | None = None,
) -> list[SourceItem]:
    """The bundle's items if it is genuine and meant for this reader and subject, else ``AttestationRefused``."""
    attestation = bundle.attestation
    if attestation.version != VERSION:
        raise AttestationRefused("attestation.version", f"must be {VERSION}")
    key = keys.get(attestation.issuer)
    if attestation.issuer not in issuers or key is None:
        raise AttestationRefused("attestation.issuer", f"is not one of {', '.join(issuers)}")
    if not _genuine(key, attestation):
        raise AttestationRefused("attestation.signature", "does not match: the bundle was not issued like this")
    if items_digest(bundle.items) != attestation.items_digest:
        raise AttestationRefused("items", "were changed after they were signed")
    moment = now or datetime.now(UTC)
    expires = attestation.expires_at if attestation.expires_at.tzinfo else attestation.expires_at.replace(tzinfo=UTC)
    if expires <= moment:
        raise AttestationRefused("attestation.expires_at", "has passed: fetch the sources again")
    if attestation.reader_id != reader_id:
        raise AttestationRefused("attestation.reader_id", "is not you: sources are for the person who fetched them")
    if attestation.subject_id != subject_id:
        raise AttestationRefused("attestation.subject_id", "is not the person this draft is about")
    allowed = ISSUER_KINDS.get(attestation.issuer, frozenset())
    for number, item in enumerate(bundle.items):
        if item.kind not in allowed or not item.id.startswith(f"{attestation.issuer}:"):
            raise AttestationRefused(f"items.{number}", f"is not an item {attestation.issuer} issues")
    return list(bundle.items)


__all__ = [
    "DEFAULT_TTL",
    "ISSUERS",
    "MAX_ITEMS",
    "MIN_KEY_LENGTH",
    "Attestation",
    "AttestationRefused",
    "SourceBundle",
    "SourceItem",
    "SourceItemKind",
    "WeakSigningKey",
    "items_digest",
    "key_from_secret",
    "public_key_text",
    "sign_bundle",
    "signing_key",
    "verify_bundle",
    "verify_keys",
]
