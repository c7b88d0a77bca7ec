"""shared/attestation.py without services: signing, each refusal, the key setting, and `meritloop up`'s key."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from meritloop.launcher import Launcher
from shared.attestation import (
    AttestationRefused,
    SourceItem,
    SourceItemKind,
    WeakSigningKey,
    sign_bundle,
    signing_key,
    verify_bundle,
)
from shared.settings import DEVELOPMENT_SOURCE_SIGNING_KEY, Environment, Settings, settings_reference

READER, SUBJECT = uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ITEMS = [
    SourceItem(id="goals:goal:1", kind=SourceItemKind.goal, text="Goal 'Ship it': 50 % done.", date="2026-01-01"),
    SourceItem(id="goals:check-in:2", kind=SourceItemKind.goal_check_in, text="Check-in: halfway."),
]


def key(value: str = "k" * 40) -> bytes:
    return signing_key(Settings(environment=Environment.test, source_signing_key=SecretStr(value)))


def refused(bundle_key: bytes, verify_key: bytes | None = None, **changes: object) -> str:
    bundle = sign_bundle(bundle_key, issuer="goals", reader_id=READER, subject_id=SUBJECT, items=ITEMS, now=NOW)
    for name, value in changes.items():
        if name == "text":
            bundle.items[0].text = str(value)
        else:
            setattr(bundle.attestation, name, value)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(verify_key or bundle_key, bundle, reader_id=READER, subject_id=SUBJECT, now=NOW)
    return caught.value.field


def test_a_bundle_verifies_for_its_reader_and_subject_until_it_expires() -> None:
    bundle = sign_bundle(key(), issuer="goals", reader_id=READER, subject_id=SUBJECT, items=ITEMS, now=NOW)
    assert bundle.attestation.expires_at == NOW + timedelta(minutes=15)
    again = type(bundle).model_validate_json(bundle.model_dump_json())  # as it travels through a client
    assert verify_bundle(key(), again, reader_id=READER, subject_id=SUBJECT, now=NOW) == ITEMS
    late = NOW + timedelta(minutes=15)
    with pytest.raises(AttestationRefused, match="has passed"):
        verify_bundle(key(), again, reader_id=READER, subject_id=SUBJECT, now=late)


def test_each_change_is_refused_naming_its_field() -> None:
    assert refused(key(), key("x" * 40)) == "attestation.signature"  # another key: a forgery
    assert refused(key(), text="Goal 'Ship it': 100 % done.") == "items"
    assert refused(key(), reader_id=uuid.uuid4()) == "attestation.signature"  # the signature binds the reader
    assert refused(key(), expires_at=NOW + timedelta(days=365)) == "attestation.signature"
    assert refused(key(), issuer="feedback") == "attestation.signature"
    assert refused(key(), issuer="rewards") == "attestation.issuer"
    assert refused(key(), version=2) == "attestation.version"
    other = sign_bundle(key(), issuer="goals", reader_id=uuid.uuid4(), subject_id=SUBJECT, items=ITEMS, now=NOW)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(key(), other, reader_id=READER, subject_id=SUBJECT, now=NOW)
    assert caught.value.field == "attestation.reader_id"
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(key(), other, reader_id=other.attestation.reader_id, subject_id=READER, now=NOW)
    assert caught.value.field == "attestation.subject_id"
    praise = [SourceItem(id="goals:praise:1", kind=SourceItemKind.praise, text="Praise from goals?")]
    odd = sign_bundle(key(), issuer="goals", reader_id=READER, subject_id=SUBJECT, items=praise, now=NOW)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(key(), odd, reader_id=READER, subject_id=SUBJECT, now=NOW)
    assert caught.value.field == "items.0"


def test_production_refuses_the_development_or_a_short_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    production = Settings(environment=Environment.production, jwt_secret="j" * 40)
    with pytest.raises(WeakSigningKey):
        signing_key(production)
    with pytest.raises(WeakSigningKey):
        signing_key(production.model_copy(update={"source_signing_key": SecretStr("short")}))
    assert signing_key(production.model_copy(update={"source_signing_key": SecretStr("s" * 32)}))
    # The services refuse to start with it, like with a database URL left unset.
    from services.reviews.app import create

    with pytest.raises(WeakSigningKey):
        create(production.model_copy(update={"reviews_database_url": "sqlite+aiosqlite:///x.db"}))
    # Read from a mounted file; never shown in the settings reference.
    path = tmp_path / "key"
    path.write_text("f" * 48 + "\n")
    monkeypatch.setenv("MERITLOOP_SOURCE_SIGNING_KEY_FILE", str(path))
    assert Settings().source_signing_key.get_secret_value() == "f" * 48
    assert DEVELOPMENT_SOURCE_SIGNING_KEY not in settings_reference()


def test_meritloop_up_gives_the_three_services_one_owner_only_key(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.test, data_dir=tmp_path / "data", nats_embedded_auth=False)
    up = Launcher(settings, demo=False, out=io.StringIO(), err=io.StringIO())
    files = set()
    for name in ("goals", "feedback", "reviews"):
        env = up._service_child(name).env
        assert env is not None
        files.add(env["MERITLOOP_SOURCE_SIGNING_KEY_FILE"])
        assert "MERITLOOP_SOURCE_SIGNING_KEY" not in env
    (path,) = files
    assert Path(path).stat().st_mode & 0o777 == 0o600
    assert len(Path(path).read_text().strip()) >= 32
    assert up._service_child("rewards").env is None
    assert up._worker_child().env is None or "MERITLOOP_SOURCE_SIGNING_KEY_FILE" not in (up._worker_child().env or {})
