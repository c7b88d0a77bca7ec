"""shared/attestation.py without services: signing, each refusal, the key setting, and `meritloop up`'s key."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import SecretStr
from typer.testing import CliRunner

from meritloop.cli import app as cli
from meritloop.launcher import Launcher
from shared.attestation import (
    AttestationRefused,
    SourceItem,
    SourceItemKind,
    WeakSigningKey,
    key_from_secret,
    public_key_text,
    sign_bundle,
    signing_key,
    verify_bundle,
    verify_keys,
)
from shared.settings import DEVELOPMENT_SOURCE_SIGNING_KEY, Environment, Settings, settings_reference

READER, SUBJECT = uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ITEMS = [
    SourceItem(id="goals:goal:1", kind=SourceItemKind.goal, text="Goal 'Ship it': 50 % done.", date="2026-01-01"),
    SourceItem(id="goals:check-in:2", kind=SourceItemKind.goal_check_in, text="Check-in: halfway."),
]


def settings(value: str = "k" * 40) -> Settings:
    return Settings(environment=Environment.test, source_signing_key=SecretStr(value))


def key(value: str = "k" * 40, issuer: str = "goals") -> Ed25519PrivateKey:
    return signing_key(settings(value), issuer)


def keys(value: str = "k" * 40) -> dict[str, Ed25519PublicKey]:
    """What reviews verifies with when given no public keys outside production: derived from its own secret."""
    return verify_keys(settings(value))


def refused(
    bundle_key: Ed25519PrivateKey, verify_with: dict[str, Ed25519PublicKey] | None = None, **changes: object
) -> str:
    bundle = sign_bundle(bundle_key, issuer="goals", reader_id=READER, subject_id=SUBJECT, items=ITEMS, now=NOW)
    for name, value in changes.items():
        if name == "text":
            bundle.items[0].text = str(value)
        else:
            setattr(bundle.attestation, name, value)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(verify_with or keys(), bundle, reader_id=READER, subject_id=SUBJECT, now=NOW)
    return caught.value.field


def test_a_bundle_verifies_for_its_reader_and_subject_until_it_expires() -> None:
    bundle = sign_bundle(key(), issuer="goals", reader_id=READER, subject_id=SUBJECT, items=ITEMS, now=NOW)
    assert bundle.attestation.expires_at == NOW + timedelta(minutes=15)
    again = type(bundle).model_validate_json(bundle.model_dump_json())  # as it travels through a client
    assert verify_bundle(keys(), again, reader_id=READER, subject_id=SUBJECT, now=NOW) == ITEMS
    late = NOW + timedelta(minutes=15)
    with pytest.raises(AttestationRefused, match="has passed"):
        verify_bundle(keys(), again, reader_id=READER, subject_id=SUBJECT, now=late)


def test_each_change_is_refused_naming_its_field() -> None:
    assert refused(key(), keys("x" * 40)) == "attestation.signature"  # another key: a forgery
    assert refused(key(), text="Goal 'Ship it': 100 % done.") == "items"
    assert refused(key(), reader_id=uuid.uuid4()) == "attestation.signature"  # the signature binds the reader
    assert refused(key(), expires_at=NOW + timedelta(days=365)) == "attestation.signature"
    assert refused(key(), issuer="feedback") == "attestation.signature"
    assert refused(key(), issuer="rewards") == "attestation.issuer"
    assert refused(key(), version=1) == "attestation.version"  # the HMAC bundles of before
    assert refused(key(), signature="not base64 at all!") == "attestation.signature"
    other = sign_bundle(key(), issuer="goals", reader_id=uuid.uuid4(), subject_id=SUBJECT, items=ITEMS, now=NOW)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(keys(), other, reader_id=READER, subject_id=SUBJECT, now=NOW)
    assert caught.value.field == "attestation.reader_id"
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(keys(), other, reader_id=other.attestation.reader_id, subject_id=READER, now=NOW)
    assert caught.value.field == "attestation.subject_id"
    praise = [SourceItem(id="goals:praise:1", kind=SourceItemKind.praise, text="Praise from goals?")]
    odd = sign_bundle(key(), issuer="goals", reader_id=READER, subject_id=SUBJECT, items=praise, now=NOW)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(keys(), odd, reader_id=READER, subject_id=SUBJECT, now=NOW)
    assert caught.value.field == "items.0"


def test_an_issuer_cannot_sign_as_the_other_and_the_verifier_cannot_sign() -> None:
    praise = [SourceItem(id="feedback:praise:1", kind=SourceItemKind.praise, text="Praise: great launch.")]
    genuine = sign_bundle(key(issuer="feedback"), issuer="feedback", reader_id=READER, subject_id=SUBJECT, items=praise)
    assert verify_bundle(keys(), genuine, reader_id=READER, subject_id=SUBJECT) == praise
    # Goals' own key, claiming to be feedback: checked with feedback's public key.
    forged = sign_bundle(key(issuer="goals"), issuer="feedback", reader_id=READER, subject_id=SUBJECT, items=praise)
    with pytest.raises(AttestationRefused) as caught:
        verify_bundle(keys(), forged, reader_id=READER, subject_id=SUBJECT)
    assert caught.value.field == "attestation.signature"
    # Reviews given the public keys holds nothing that signs: it verifies with them alone.
    public = {issuer: public_key_text(key(issuer=issuer)) for issuer in ("goals", "feedback")}
    reviews = Settings(environment=Environment.production, jwt_secret="j" * 40, source_verify_keys=public)
    assert verify_bundle(verify_keys(reviews), genuine, reader_id=READER, subject_id=SUBJECT) == praise
    with pytest.raises(WeakSigningKey):
        signing_key(reviews, "feedback")  # the development secret, refused in production
    with pytest.raises(ValueError, match="does not issue"):
        signing_key(settings(), "reviews")
    # Named keys win over the derived ones, outside production too.
    elsewhere = public_key_text(key("y" * 40, "feedback"))
    other = settings().model_copy(update={"source_verify_keys": {"feedback": elsewhere}})
    with pytest.raises(AttestationRefused):
        verify_bundle(verify_keys(other), genuine, reader_id=READER, subject_id=SUBJECT)


def test_verify_keys_are_checked_at_start() -> None:
    production = Settings(environment=Environment.production, jwt_secret="j" * 40)
    good = public_key_text(key())
    with pytest.raises(WeakSigningKey, match="no key for feedback"):
        verify_keys(production.model_copy(update={"source_verify_keys": {"goals": good}}))
    with pytest.raises(WeakSigningKey, match="names 'rewards'"):
        verify_keys(production.model_copy(update={"source_verify_keys": {"goals": good, "rewards": good}}))
    with pytest.raises(WeakSigningKey, match=r"\[feedback\] is not an Ed25519 public key"):
        verify_keys(production.model_copy(update={"source_verify_keys": {"goals": good, "feedback": "c2hvcnQ"}}))


def test_source_keys_command_prints_the_verify_keys(tmp_path: Path) -> None:
    goals, feedback = tmp_path / "goals", tmp_path / "feedback"
    goals.write_text("g" * 40 + "\n")
    feedback.write_text("f" * 40 + "\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["source-keys", "--goals-key-file", str(goals), "--feedback-key-file", str(feedback)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == {
        "goals": public_key_text(key_from_secret("g" * 40, "goals")),
        "feedback": public_key_text(key_from_secret("f" * 40, "feedback")),
    }
    feedback.write_text("g" * 40)
    same = runner.invoke(cli, ["source-keys", "--goals-key-file", str(goals), "--feedback-key-file", str(feedback)])
    assert same.exit_code != 0
    assert "secrets of their own" in same.output


def test_production_refuses_the_development_or_a_short_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    production = Settings(environment=Environment.production, jwt_secret="j" * 40)
    with pytest.raises(WeakSigningKey):
        signing_key(production, "goals")
    with pytest.raises(WeakSigningKey):
        signing_key(production.model_copy(update={"source_signing_key": SecretStr("short")}), "goals")
    assert signing_key(production.model_copy(update={"source_signing_key": SecretStr("s" * 32)}), "goals")
    # The services refuse to start with it, like with a database URL left unset; reviews without public keys.
    from services.goals.app import create as create_goals
    from services.reviews.app import create as create_reviews

    with pytest.raises(WeakSigningKey):
        create_goals(production.model_copy(update={"goals_database_url": "sqlite+aiosqlite:///x.db"}))
    reviews = production.model_copy(update={"reviews_database_url": "sqlite+aiosqlite:///x.db"})
    with pytest.raises(WeakSigningKey):
        create_reviews(reviews)
    public = {issuer: public_key_text(key(issuer=issuer)) for issuer in ("goals", "feedback")}
    assert create_reviews(reviews.model_copy(update={"source_verify_keys": public}))
    # Read from a mounted file; never shown in the settings reference.
    path = tmp_path / "key"
    path.write_text("f" * 48 + "\n")
    monkeypatch.setenv("MERITLOOP_SOURCE_SIGNING_KEY_FILE", str(path))
    assert Settings().source_signing_key.get_secret_value() == "f" * 48
    assert DEVELOPMENT_SOURCE_SIGNING_KEY not in settings_reference()


def test_meritloop_up_gives_each_issuer_its_own_key_and_reviews_only_public_keys(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.test, data_dir=tmp_path / "data", nats_embedded_auth=False)
    up = Launcher(settings, demo=False, out=io.StringIO(), err=io.StringIO())
    secrets: dict[str, str] = {}
    for name in ("goals", "feedback"):
        env = up._service_child(name).env
        assert env is not None
        path = Path(env["MERITLOOP_SOURCE_SIGNING_KEY_FILE"])
        assert "MERITLOOP_SOURCE_SIGNING_KEY" not in env
        assert path.stat().st_mode & 0o777 == 0o600
        secrets[name] = path.read_text().strip()
        assert len(secrets[name]) >= 32
    assert secrets["goals"] != secrets["feedback"]
    reviews = up._service_child("reviews").env
    assert reviews is not None
    assert "MERITLOOP_SOURCE_SIGNING_KEY_FILE" not in reviews
    assert json.loads(reviews["MERITLOOP_SOURCE_VERIFY_KEYS"]) == {
        issuer: public_key_text(key_from_secret(secret, issuer)) for issuer, secret in secrets.items()
    }
    # Kept across runs.
    again = Launcher(settings, demo=False, out=io.StringIO(), err=io.StringIO())
    assert again._service_child("reviews").env == reviews
    assert up._service_child("rewards").env is None
    assert up._worker_child().env is None or "MERITLOOP_SOURCE_SIGNING_KEY_FILE" not in (up._worker_child().env or {})
