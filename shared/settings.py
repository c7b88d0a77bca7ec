"""Settings, one environment variable each (prefix ``MERITLOOP_``).

Every field's description is the documentation of its variable: docs/configuration.md is
generated from it (``meritloop settings --markdown``) and a test keeps the two in step.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "meritloop-development-secret-do-not-use-in-production"  # noqa: S105
DEVELOPMENT_SOURCE_SIGNING_KEY = "meritloop-development-source-signing-key-not-for-production"

ServiceName = Literal["goals", "feedback", "reviews", "rewards"]
SERVICES: tuple[ServiceName, ...] = get_args(ServiceName)


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SecretFilesSource(PydanticBaseSettingsSource):
    """``<PREFIX><NAME>_FILE`` (e.g. ``MERITLOOP_JWT_SECRET_FILE``): a setting read from a file (a
    Kubernetes Secret mounted as files), for any settings class by its own ``env_prefix``.

    The variable itself, when set too, wins; a named file that cannot be read is an error,
    never a silent fallback to the default.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        prefix = self.settings_cls.model_config.get("env_prefix", "")
        variable = f"{prefix}{field_name.upper()}_FILE"
        path = os.environ.get(variable)
        if not path:
            return None, field_name, False
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"{variable}={path} cannot be read: {exc}") from None
        value = text.rstrip("\r\n")
        is_complex = self.field_is_complex(field)
        return (json.loads(value) if is_complex else value), field_name, is_complex

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _complex = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values


def sources_with_secret_files(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Secrets as files, after the environment itself: ``<PREFIX><NAME>_FILE``, or a file named
    ``<PREFIX><NAME>`` in ``MERITLOOP_SECRETS_DIR`` (a mounted Secret)."""
    folder = os.environ.get("MERITLOOP_SECRETS_DIR")
    mounted = SecretsSettingsSource(settings_cls, secrets_dir=folder) if folder else file_secret_settings
    return (init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings, mounted)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MERITLOOP_", env_file=".env", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return sources_with_secret_files(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )

    environment: Environment = Field(
        Environment.development,
        description="development, test or production. Production refuses development secrets.",
    )
    data_dir: Path = Field(
        Path(".meritloop"),
        description="Folder for SQLite databases, NATS/Temporal data and process logs.",
    )
    host: str = Field("127.0.0.1", description="Address the services and embedded servers bind to.")

    goals_port: int = Field(8101, description="HTTP port of the goals service.")
    feedback_port: int = Field(8102, description="HTTP port of the feedback service.")
    reviews_port: int = Field(8103, description="HTTP port of the reviews service.")
    rewards_port: int = Field(8104, description="HTTP port of the rewards service.")

    goals_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the goals database (default: SQLite in data_dir)."
    )
    feedback_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the feedback database (default: SQLite in data_dir)."
    )
    reviews_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the reviews database (default: SQLite in data_dir)."
    )
    rewards_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the rewards database (default: SQLite in data_dir)."
    )
    database_echo: bool = Field(False, description="Log every SQL statement.")

    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL (JetStream enabled).")
    nats_monitor_port: int = Field(8222, description="HTTP monitoring port of the embedded NATS server.")
    nats_user: str | None = Field(
        None,
        description="NATS user this process connects as: its component's own (`goals`, `feedback`, `reviews`, "
        "`rewards`), which may publish only on that component's subjects (docs/operations.md). Unset: no "
        "authentication. `meritloop up` sets it for each process it starts.",
    )
    nats_password: str | None = Field(
        None,
        description="Password of `MERITLOOP_NATS_USER`; give it as a file with `MERITLOOP_NATS_PASSWORD_FILE`.",
    )
    nats_tls: bool = Field(
        False,
        description="Connect to NATS over TLS, verifying the server against `MERITLOOP_NATS_TLS_CA_FILE` or the "
        "system's CAs (a `tls://` URL turns it on too).",
    )
    nats_tls_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the NATS server's certificate (turns TLS on)."
    )
    nats_tls_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for NATS servers that require mutual TLS."
    )
    nats_tls_key_file: Path | None = Field(None, description="Private key (PEM) of `MERITLOOP_NATS_TLS_CERT_FILE`.")
    nats_embedded_auth: bool = Field(
        True,
        description="`meritloop up`: start the embedded NATS server with one user per component and their "
        "permissions (passwords generated into `<data_dir>/nats-users`, owner-only). Off: an open server.",
    )
    nats_server_tls_cert_file: Path | None = Field(
        None, description="`meritloop up`: serve the embedded NATS over TLS with this certificate (PEM)."
    )
    nats_server_tls_key_file: Path | None = Field(
        None, description="`meritloop up`: private key (PEM) of `MERITLOOP_NATS_SERVER_TLS_CERT_FILE`."
    )
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_ui_port: int = Field(8233, description="Web UI port of the embedded Temporal server.")
    temporal_task_queue: str = Field("meritloop", description="Task queue the workflow worker polls (workflows only).")
    temporal_reviews_task_queue: str = Field(
        "reviews", description="Task queue of the reviews service's activities (its worker runs in the service)."
    )
    temporal_rewards_task_queue: str = Field(
        "rewards", description="Task queue of the rewards service's activities (its worker runs in the service)."
    )
    temporal_feedback_task_queue: str = Field(
        "feedback", description="Task queue of the feedback service's activities (360 rounds; runs in the service)."
    )
    temporal_legacy_activity_queue: str | None = Field(
        None,
        description="Upgrade aid: the workflow queue on which runs begun before the activities moved to the "
        "services still schedule them (e.g. `meritloop`). The reviews and rewards activity workers serve it "
        "too until those runs have ended; unset it then.",
    )
    temporal_activity_worker: bool = Field(
        True,
        description="Run the service's Temporal activity worker inside the service process (reviews, rewards). "
        "Off when the activities run as a second process of the same image (`meritloop activities <service>`).",
    )
    worker_metrics_port: int | None = Field(
        None,
        description="Port of the Temporal worker's Prometheus endpoint (`/metrics`, the SDK's metrics). Off if unset.",
    )
    worker_metrics_host: str | None = Field(
        None,
        description="Address the worker's Prometheus endpoint binds to (default: `MERITLOOP_HOST`; "
        "`0.0.0.0` in a pod).",
    )

    worker_health_port: int | None = Field(
        None,
        description="Port of the worker's `/healthz` (its loop answers) and `/readyz` (it polls Temporal) for "
        "Kubernetes probes, on `MERITLOOP_WORKER_METRICS_HOST`. Off if unset.",
    )
    secrets_dir: Path | None = Field(
        None,
        description="Folder of files named like the variables (`MERITLOOP_JWT_SECRET`, ...), each holding "
        "that setting: a Kubernetes Secret mounted as files. A missing file leaves the setting unset.",
    )

    jwt_secret: str = Field(
        DEVELOPMENT_JWT_SECRET,
        description="HS256 signing secret for people's tokens (development and tests).",
    )
    jwt_jwks_url: str | None = Field(
        None, description="JWKS URL of the OIDC provider; when set, tokens are verified with it."
    )
    jwt_issuer: str = Field("meritloop-dev", description="Expected `iss` claim.")
    jwt_audience: str = Field("meritloop", description="Expected `aud` claim.")

    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint for traces, e.g. http://collector:4318. Off if unset."
    )
    log_level: str = Field("INFO", description="Python log level.")

    outbox_poll_interval: float = Field(0.2, description="Seconds between outbox relay polls when nothing is pending.")
    outbox_batch_size: int = Field(500, description="Outbox rows published per relay round.")
    consumer_max_deliver: int = Field(
        5, description="Deliveries of one event before it goes to the dead-letter subject."
    )
    consumer_backoff: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 30.0, 120.0],
        description="Redelivery delays in seconds after each failed attempt (JSON list).",
    )
    consumer_ack_wait: float = Field(
        30.0,
        description="Seconds a consumer has to ack before JetStream redelivers. Part of the durable consumer: behind"
        " NATS users `meritloop bus provision` sets it (and the server's delivery limit) from its own environment.",
    )
    stream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="Servers each JetStream stream is kept on (its replica count). 1 on a single NATS server; 3 in"
        " the three-node cluster of deploy/helm/nats.values.yaml, so a node's loss loses no event. Every component"
        " and `meritloop bus provision` must read the same value: a component re-applies its stream at start.",
    )
    scim_token: str | None = Field(
        None,
        description="Bearer token of the SCIM provisioning client (reviews `/scim/v2`). Unset: SCIM answers 401. "
        "In production a token shorter than 32 characters also disables SCIM.",
    )
    cycle_update_timeout: float = Field(
        20.0,
        description="Seconds the reviews API waits for a review-cycle workflow to answer an Update "
        "(task submit, HR changes) before answering 503.",
    )
    cycle_default_guideline: list[float] = Field(
        [10.0, 20.0, 40.0, 20.0, 10.0],
        description="Calibration guideline when a cycle gives none: the wanted % of people at each point of "
        "the final rating scale, lowest first (spread evenly when the scale has another number of points).",
    )
    feedback_kek_file: Path | None = Field(
        None,
        description="File holding the feedback key-encryption keys (`id:base64` per line, current first), e.g. a "
        "mounted Kubernetes Secret; never in a database. Default: `feedback-kek` in the data folder, created "
        "owner-only outside production.",
    )
    feedback_max_request_recipients: int = Field(
        10, ge=1, le=100, description="Colleagues one feedback request may ask at most."
    )
    feedback_peer_min_raters: int = Field(
        3,
        ge=3,
        description="k: answers (or peer ratings) needed before an aggregate is released; never below 3.",
    )
    feedback_reminder_days: int = Field(
        2, ge=0, description="Days before a feedback request's due date its open recipients are reminded."
    )
    feedback_reminder_interval: float = Field(
        300.0,
        ge=0,
        description="Seconds between the feedback service's sweeps for due reminders and for upward feedback "
        "past its closing time, which they close (0: no sweep).",
    )

    reviews_dispute_reminder_days: float = Field(
        2.0,
        ge=0,
        description="Days before a rating dispute's due date its HR assignee is reminded (once; 0: no reminder).",
    )
    reviews_dispute_reescalation_days: float = Field(
        7.0,
        ge=0,
        description="Days after an escalation a rating dispute still open is escalated again, each time to the next"
        " active manager up the HR assignee's line (the top one again once there is nobody higher). 0: once only.",
    )
    reviews_dispute_sweep_interval: float = Field(
        60.0,
        ge=0,
        description="Seconds between the reviews service's sweeps that remind HR of rating disputes nearing their "
        "due date and escalate those past it (0: no sweep).",
    )

    llm_base_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible chat-completions server (vLLM, Ollama, LM Studio, a hosted "
        "service), e.g. http://127.0.0.1:11434/v1. Unset: no model is ever called; the local suggester answers.",
    )
    llm_model: str | None = Field(
        None, description="Model name sent to the chat-completions server (required with it)."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="The model server's API key (never logged); a mounted secret: MERITLOOP_LLM_API_KEY_FILE."
    )
    llm_timeout: float = Field(
        20.0,
        description="Seconds one writing-help request may wait for the model, queueing included, before the "
        "local suggester answers instead.",
    )
    llm_concurrency: int = Field(4, ge=1, description="Model calls in flight at once, per service process.")
    llm_daily_quota: int = Field(
        50, ge=0, description="Model calls per person per UTC day and service; beyond it the local suggester answers."
    )
    llm_goal_assist: bool = Field(
        True, description="Let the goals service use the model for goal writing help (off: local suggestions only)."
    )
    llm_review_drafts: bool = Field(
        True, description="Let the reviews service use the model for review drafts (off: local drafts only)."
    )
    source_signing_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_SOURCE_SIGNING_KEY),
        description="Secret (at least 32 random characters) from which goals and feedback each derive the Ed25519 "
        "key they sign draft sources with (shared/attestation.py); give each of the two a secret of its own, as a "
        "file: MERITLOOP_SOURCE_SIGNING_KEY_FILE. Reviews needs none in production (it verifies with "
        "MERITLOOP_SOURCE_VERIFY_KEYS). In production they refuse to start with the development key or a shorter one.",
    )
    source_verify_keys: dict[str, str] = Field(
        default_factory=dict,
        description='For reviews: the issuers\' public keys, as JSON {"goals": ..., "feedback": ...} (base64url '
        "Ed25519), printed by `meritloop source-keys` from the two issuers' secrets. Required in production; "
        "elsewhere an issuer left out is derived from this service's own MERITLOOP_SOURCE_SIGNING_KEY.",
    )
    max_json_body_bytes: int = Field(
        1024 * 1024,
        gt=0,
        description="Largest request body of a JSON route; a larger one is answered 413 before it is read.",
    )
    max_import_body_bytes: int = Field(
        32 * 1024 * 1024,
        gt=0,
        description="Largest import file (people, compensation), streamed; beyond it the import is answered 413. "
        "A route may hold its own lower limit (the compensation import: 5 MiB).",
    )
    max_json_depth: int = Field(
        32, gt=0, le=200, description="Deepest nesting of arrays and objects a JSON body may have; deeper is 400."
    )

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        if self.jwt_jwks_url == "":
            # An empty variable must not silently mean "use the HS256 secret".
            self.jwt_jwks_url = None
        weak_secret = self.jwt_secret == DEVELOPMENT_JWT_SECRET or len(self.jwt_secret) < 32
        if self.environment is Environment.production and self.jwt_jwks_url is None and weak_secret:
            raise ValueError(
                "MERITLOOP_JWT_SECRET is the development secret (or shorter than 32 "
                "characters); set a real secret or MERITLOOP_JWT_JWKS_URL in production"
            )
        return self

    def port(self, service: ServiceName) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def database_url(self, service: ServiceName) -> str:
        url: str | None = getattr(self, f"{service}_database_url")
        if url:
            return url
        if self.environment is Environment.production:
            # A pod-local SQLite file would lose data silently and split it between replicas.
            raise ValueError(f"MERITLOOP_{service.upper()}_DATABASE_URL must be set in production")
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def feedback_kek_path(self) -> Path:
        return self.feedback_kek_file or self.data_dir / "feedback-kek"

    def service_url(self, service: ServiceName) -> str:
        return f"http://{self.host}:{self.port(service)}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_reference() -> str:
    """The Markdown reference of every setting, as docs/configuration.md shows it."""
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable (or a line of a `.env` file in the working",
        "folder). Generated from `shared/settings.py` by `meritloop settings --markdown`.",
        "",
        "Any setting can also be read from a file: `MERITLOOP_<NAME>_FILE=/path` (how Kubernetes",
        "Secrets mounted as files reach the services, e.g. `MERITLOOP_JWT_SECRET_FILE`). The variable",
        "itself wins when both are set; a file that cannot be read stops the process.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "(unset)" if default is None else f"`{default}`"
        lines.append(f"| `MERITLOOP_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"
