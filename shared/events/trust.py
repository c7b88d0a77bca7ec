"""Who may say what on the bus: one NATS user per component, and the check every consumer makes.

The bus is a trust boundary. A component may publish only on its own subjects
(``meritloop.<component>.>``), its own dead-letter subjects and the JetStream API calls its
own streams and durable consumers need; it may subscribe only to its own reply inbox, so it
reads other components' events only through the durable consumers named here. The table is
the one source of the permissions: ``meritloop up`` writes the embedded server's
configuration from it and ``deploy/helm/nats.values.yaml`` is generated from it (a test keeps
both, and the services' own subscriptions, in step with it).

Permissions alone say who may publish on a subject, not what the envelope claims; so a
consumer also refuses an event whose CloudEvents ``source`` or ``type`` does not match the
subject it arrived on (``refusal``), and dead-letters it with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.events.envelope import DEAD_LETTER_PREFIX, SUBJECT_PREFIX, CloudEvent, stream_name
from shared.settings import SERVICES

DEAD_LETTER_STREAM = "MERITLOOP_DEADLETTER"
PROVISIONER = "provisioner"  # the user that defines streams and consumers (shared/events/provision.py)
JS_API = "$JS.API"


@dataclass(frozen=True)
class Consumes:
    """A durable consumer a component reads through, on another's (or its own) stream."""

    stream: str
    durable: str


@dataclass(frozen=True)
class Component:
    name: str
    consumes: tuple[Consumes, ...] = ()
    # False: the component has no business on the bus (the workflow worker talks only to
    # Temporal); it gets no NATS user, so nothing can quietly start depending on one.
    connects: bool = True

    @property
    def inbox_prefix(self) -> str:
        # Replies (publish acks, pull batches) go to an inbox only this user may subscribe to.
        return f"_INBOX_{self.name}"

    def publish_allowed(self) -> list[str]:
        subjects = [f"{SUBJECT_PREFIX}.{self.name}.>", *_stream_calls(stream_name(self.name))]
        subjects += _dead_letter_stream_calls()
        for consumed in self.consumes:
            # No CONSUMER.CREATE: a consumer's filter is what its reader gets, so the provisioner
            # sets it (shared/events/provision.py); the reader may only look it up and pull.
            subjects += [f"{DEAD_LETTER_PREFIX}.{consumed.durable}", *_consumer_calls(consumed, "INFO", "MSG.NEXT")]
            subjects.append(f"$JS.ACK.{consumed.stream}.{consumed.durable}.>")
        return subjects

    def subscribe_allowed(self) -> list[str]:
        return [f"{self.inbox_prefix}.>"]


def _dead_letter_stream_calls() -> list[str]:
    # The dead-letter stream is everyone's: any component may create it as the code defines it,
    # none may change what it keeps (a max_age of a second would erase every component's evidence).
    return _stream_calls(DEAD_LETTER_STREAM, "CREATE", "INFO")


def _stream_calls(stream: str, *verbs: str) -> list[str]:
    return [f"{JS_API}.STREAM.{verb}.{stream}" for verb in verbs or ("CREATE", "UPDATE", "INFO")]


def _consumer_calls(consumed: Consumes, *verbs: str) -> list[str]:
    return [f"{JS_API}.CONSUMER.{verb}.{consumed.stream}.{consumed.durable}" for verb in verbs]


@dataclass(frozen=True)
class Provisioner(Component):
    """The user that defines every stream and durable consumer, and can do nothing else.

    It may neither publish an event nor pull or ack a message. It is still trusted like an
    operator (a consumer it defines could deliver to its own inbox), so it runs only in
    ``meritloop up`` and the deployment's provisioning Job, never in a long-running process.
    """

    def publish_allowed(self) -> list[str]:
        subjects = [call for service in SERVICES for call in _stream_calls(stream_name(service))]
        # Unlike a component, it may update the dead-letter stream: that is how a raised replica
        # count reaches it (MERITLOOP_STREAM_REPLICAS).
        subjects += _stream_calls(DEAD_LETTER_STREAM)
        for reader in COMPONENTS:
            for consumed in reader.consumes:
                # Every form of the create call: nats-py sends DURABLE.CREATE, newer clients the others.
                subjects += _consumer_calls(consumed, "CREATE", "DURABLE.CREATE", "INFO")
                subjects.append(f"{JS_API}.CONSUMER.CREATE.{consumed.stream}.{consumed.durable}.>")
        return subjects


def _reviews(durable: str) -> Consumes:
    return Consumes(stream_name("reviews"), durable)


# Adding a component (the web front end, notifications) is one line here, its password in
# the Secret and its NetworkPolicy: its user then exists in `meritloop up` and the chart.
COMPONENTS: tuple[Component, ...] = (
    Component("goals", (_reviews("goals-people"), _reviews("goals-cycle-scores"))),
    Component(
        "feedback",
        (_reviews("feedback-people"), _reviews("feedback-peer-cycles"), _reviews("feedback-upward-cycles")),
    ),
    Component(
        "reviews",
        (
            _reviews("reviews-cycles-leavers"),
            Consumes(stream_name("goals"), "reviews-cycles-goal-scores"),
            Consumes(stream_name("feedback"), "reviews-cycles-peer-aggregates"),
            Consumes(stream_name("feedback"), "reviews-cycles-peer-reviews"),
            Consumes(stream_name("rewards"), "reviews-cycles-pay-approvals"),
            Consumes(stream_name("feedback"), "reviews-templates-catalogue"),
        ),
    ),
    Component("rewards", (_reviews("rewards-people"), _reviews("rewards-ratings"))),
    Component(
        "notifications",
        (
            _reviews("notifications-people"),
            _reviews("notifications-reviews"),
            Consumes(stream_name("feedback"), "notifications-feedback"),
            Consumes(stream_name("rewards"), "notifications-rewards"),
        ),
    ),
    Component("worker", connects=False),
    Provisioner(PROVISIONER),
)
BUS_USERS: tuple[Component, ...] = tuple(component for component in COMPONENTS if component.connects)


def component(name: str) -> Component:
    for candidate in COMPONENTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no component {name!r} on the bus")


def is_component_user(user: str | None) -> bool:
    """Whether ``user`` is one of the table's users, bound by its permissions (not an operator's own)."""
    return user is not None and any(entry.name == user for entry in BUS_USERS)


def inbox_prefix(user: str | None) -> str:
    """The reply inbox of a connection: its component's own when it connects as one."""
    if user is None:
        return "_INBOX"
    try:
        return component(user).inbox_prefix
    except KeyError:
        return "_INBOX"  # an operator's own user (e.g. an admin) keeps the default inbox


# ----------------------------------------------------------------------------- the consumer's check


def source_of(service: str) -> str:
    return f"/{SUBJECT_PREFIX}/{service}"


def refusal(subject: str, event: CloudEvent) -> str | None:
    """Why an event must not be applied, or None when its envelope matches its subject.

    The subject names the publishing component and the server let only that component
    publish there; an envelope that claims another source or another type is forged or broken.
    """
    parts = subject.split(".")
    if len(parts) < 3 or parts[0] != SUBJECT_PREFIX:
        return f"subject {subject!r} is not a meritloop event subject"
    expected = source_of(parts[1])
    if event.source != expected:
        return f"source {event.source!r} does not match the subject's service (expected {expected!r})"
    if event.type != subject:
        return f"type {event.type!r} does not match the subject {subject!r}"
    return None


# ----------------------------------------------------------------------------- server configuration


def _quoted(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def authorization_block(passwords: Mapping[str, str], *, admin_password: str | None = None) -> str:
    """The ``authorization`` block of a nats-server configuration: one user per component.

    ``passwords`` holds each component's password (written quoted); a component missing from
    it gets no user. ``admin_password`` adds an unrestricted ``admin`` user for operators.
    """
    lines = ["authorization {", "  users = ["]
    for entry in BUS_USERS:
        if entry.name not in passwords:
            continue
        lines += [
            "    {",
            f"      user: {json.dumps(entry.name)}",
            f"      password: {json.dumps(passwords[entry.name])}",
            "      permissions: {",
            f"        publish: {{ allow: {_quoted(entry.publish_allowed())} }}",
            f"        subscribe: {{ allow: {_quoted(entry.subscribe_allowed())} }}",
            "      }",
            "    }",
        ]
    if admin_password is not None:
        lines.append(f'    {{ user: "admin", password: {json.dumps(admin_password)} }}')
    lines += ["  ]", "}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class ServerTls:
    cert_file: Path
    key_file: Path
    # Set: clients must present a certificate this CA signed (mutual TLS).
    ca_file: Path | None = None


def server_config(
    *,
    host: str,
    port: int,
    store_dir: Path,
    passwords: Mapping[str, str] | None,
    monitor_port: int | None = None,
    admin_password: str | None = None,
    tls: ServerTls | None = None,
) -> str:
    """A whole nats-server configuration (JetStream on); ``passwords`` None: no authentication."""
    lines = [
        f"host: {json.dumps(host)}",
        f"port: {port}",
        f"jetstream {{ store_dir: {json.dumps(str(store_dir))} }}",
    ]
    if monitor_port is not None:
        lines.append(f"http: {json.dumps(f'{host}:{monitor_port}')}")
    if tls is not None:
        lines.append("tls {")
        lines.append(f"  cert_file: {json.dumps(str(tls.cert_file))}")
        lines.append(f"  key_file: {json.dumps(str(tls.key_file))}")
        if tls.ca_file is not None:
            lines += [f"  ca_file: {json.dumps(str(tls.ca_file))}", "  verify: true"]
        lines.append("}")
    if passwords is not None:
        lines.append(authorization_block(passwords, admin_password=admin_password))
    return "\n".join(lines) + "\n"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def ensure_passwords(folder: Path, names: Iterable[str]) -> dict[str, Path]:
    """One password file per name in ``folder`` (owner-only), kept across runs; name -> file."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    files: dict[str, Path] = {}
    for name in names:
        path = folder / f"{name}.password"
        if not path.exists() or not path.read_text().strip():
            # Created owner-only from the start: no moment where another user could read it.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(new_password())
        path.chmod(0o600)
        files[name] = path
    return files


# ----------------------------------------------------------------------------- the Helm chart's configuration

NATS_USERS_SECRET = "meritloop-nats-users"  # noqa: S105 - the Secret's name


def password_variable(name: str) -> str:
    """The NATS server container's environment variable holding ``name``'s password."""
    return f"{name.upper()}_NATS_PASSWORD"


def chart_authorization() -> dict[str, Any]:
    """``config.merge.authorization`` of the official NATS chart: what ``deploy/helm/nats.values.yaml`` holds.

    Passwords stay out of the values: ``<< $VAR >>`` is the chart's raw (unquoted) value, which
    nats-server resolves from the environment the Secret ``meritloop-nats-users`` fills.
    """
    return {
        "users": [
            {
                "user": entry.name,
                "password": f"<< ${password_variable(entry.name)} >>",
                "permissions": {
                    "publish": {"allow": entry.publish_allowed()},
                    "subscribe": {"allow": entry.subscribe_allowed()},
                },
            }
            for entry in BUS_USERS
        ]
    }


def chart_environment() -> dict[str, Any]:
    """``container.env`` of the NATS chart: each password from the Secret, by component."""
    return {
        password_variable(entry.name): {"valueFrom": {"secretKeyRef": {"name": NATS_USERS_SECRET, "key": entry.name}}}
        for entry in BUS_USERS
    }
