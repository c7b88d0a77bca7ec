"""The permission table against the services' own subscriptions, the envelope check, secret files."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from shared.events import CloudEvent
from shared.events.trust import BUS_USERS, COMPONENTS, authorization_block, component, ensure_passwords, refusal
from shared.service import ServiceDefinition
from shared.settings import SERVICES, Settings


def definition(service: str) -> ServiceDefinition:
    found: ServiceDefinition = importlib.import_module(f"services.{service}.app").DEFINITION
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_read_exactly_what_it_subscribes_to(service: str) -> None:
    subscribed = {(s.stream, s.durable) for s in definition(service).subscriptions}
    allowed = {(c.stream, c.durable) for c in component(service).consumes}
    assert subscribed == allowed, "update shared/events/trust.py COMPONENTS (and regenerate the NATS values)"


def test_every_service_is_a_bus_user_and_the_worker_is_not() -> None:
    # notifications reads the services' events; the worker and the web app never touch the bus;
    # the provisioner defines streams and consumers.
    assert {c.name for c in BUS_USERS} == {*SERVICES, "notifications", "provisioner"}
    assert not component("worker").connects
    assert len({c.name for c in COMPONENTS}) == len(COMPONENTS)


def test_a_component_publishes_only_its_own_subjects_and_apis() -> None:
    goals = component("goals")
    event_subjects = [s for s in goals.publish_allowed() if s.startswith("meritloop.") and "deadletter" not in s]
    assert event_subjects == ["meritloop.goals.>"]
    for subject in goals.publish_allowed():
        assert ">" not in subject.removesuffix(".>"), subject
        assert "*" not in subject, subject
        if subject.startswith("$JS.API.STREAM."):
            assert subject.rsplit(".", 1)[1] in ("MERITLOOP_GOALS", "MERITLOOP_DEADLETTER"), subject
        if subject.startswith("$JS.API.CONSUMER.") or subject.startswith("$JS.ACK."):
            assert ".goals-" in subject, subject
    assert goals.subscribe_allowed() == ["_INBOX_goals.>"]


@pytest.mark.parametrize("reader", [c.name for c in BUS_USERS if c.name != "provisioner"])
def test_no_reader_may_define_a_consumer_and_the_provisioner_may_read_nothing(reader: str) -> None:
    """A consumer's filter is what its reader gets: only the provisioner sets it, and it cannot pull or publish."""
    assert not [s for s in component(reader).publish_allowed() if ".CONSUMER.CREATE." in s or ".DURABLE." in s]
    provisioner = component("provisioner").publish_allowed()
    for consumed in component(reader).consumes:
        where = f"{consumed.stream}.{consumed.durable}"
        assert f"$JS.API.CONSUMER.CREATE.{where}" in provisioner
        assert f"$JS.API.CONSUMER.MSG.NEXT.{where}" not in provisioner
    assert not [s for s in provisioner if not s.startswith("$JS.API.") or "MSG." in s or "DELETE" in s]
    assert component("provisioner").subscribe_allowed() == ["_INBOX_provisioner.>"]


def test_authorization_block_names_each_user_once() -> None:
    block = authorization_block({"goals": "pw-g", "reviews": "pw-r"}, admin_password=None)
    assert block.count("user:") == 2
    assert '"pw-g"' in block
    assert 'user: "feedback"' not in block
    assert 'user: "admin"' not in block


@pytest.mark.parametrize(
    ("subject", "source", "kind", "refused"),
    [
        ("meritloop.reviews.person.upserted", "/meritloop/reviews", "meritloop.reviews.person.upserted", None),
        ("meritloop.reviews.person.upserted", "/meritloop/goals", "meritloop.reviews.person.upserted", "source"),
        ("meritloop.reviews.person.upserted", "/meritloop/reviews/", "meritloop.reviews.person.upserted", "source"),
        ("meritloop.reviews.person.upserted", "/meritloop/reviews", "meritloop.reviews.rating.finalized", "type"),
        ("other.reviews.person.upserted", "/meritloop/reviews", "other.reviews.person.upserted", "subject"),
    ],
)
def test_refusal(subject: str, source: str, kind: str, refused: str | None) -> None:
    reason = refusal(subject, CloudEvent(source=source, type=kind))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None
        assert reason.startswith(refused)


def test_passwords_are_generated_owner_only_and_kept(tmp_path: Path) -> None:
    files = ensure_passwords(tmp_path / "users", ["goals", "reviews"])
    first = files["goals"].read_text()
    assert len(first) >= 40
    assert files["goals"].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "users").stat().st_mode & 0o777 == 0o700
    assert ensure_passwords(tmp_path / "users", ["goals"])["goals"].read_text() == first
    assert files["reviews"].read_text() != first


def test_a_setting_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "jwt"
    secret.write_text("a-secret-from-a-mounted-file-0123456789\n")
    monkeypatch.setenv("MERITLOOP_JWT_SECRET_FILE", str(secret))
    monkeypatch.setenv("MERITLOOP_CONSUMER_BACKOFF_FILE", str(tmp_path / "backoff"))
    (tmp_path / "backoff").write_text("[1, 2]")
    settings = Settings()
    assert settings.jwt_secret == "a-secret-from-a-mounted-file-0123456789"
    assert settings.consumer_backoff == [1.0, 2.0]
    monkeypatch.setenv("MERITLOOP_JWT_SECRET", "the-variable-itself-wins-over-the-file-0123")
    assert Settings().jwt_secret == "the-variable-itself-wins-over-the-file-0123"


def test_an_unreadable_secret_file_stops_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERITLOOP_NATS_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="MERITLOOP_NATS_PASSWORD_FILE"):
        Settings()
