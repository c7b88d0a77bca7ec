"""The notification component's settings: the shared ones plus its own (same ``MERITLOOP_`` prefix)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator

from shared.settings import Environment, Settings


class SMTPSecurity(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


class NotificationSettings(Settings):
    notifications_port: int = Field(8105, description="HTTP port of the notifications component.")
    notifications_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the notifications database (default: SQLite in data_dir)."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server the notifications are sent through.")
    smtp_port: int = Field(8025, description="Its port (`meritloop up` runs a development mail sink there).")
    smtp_security: SMTPSecurity = Field(SMTPSecurity.none, description="none, starttls or tls (implicit TLS).")
    smtp_username: str | None = Field(None, description="SMTP login (unset: no authentication).")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_timeout: float = Field(30.0, description="Seconds one SMTP conversation may take.")
    mail_from: str = Field("Meritloop <meritloop@localhost>", description="The From header of every mail.")
    web_base_url: str = Field(
        "http://127.0.0.1:8100", description="Address of the web app; links in the mails point below it."
    )
    digest_hour: int = Field(
        8, ge=0, le=23, description="Local hour a person's digest is sent at unless they chose another."
    )
    notifications_poll_interval: float = Field(
        5.0, gt=0, description="Seconds between looks for due digests and mails to (re)send."
    )
    notifications_max_attempts: int = Field(
        8, ge=1, description="SMTP attempts for one mail before it is marked failed (back-off doubles, at most 1 h)."
    )
    mail_sink_dir: Path | None = Field(
        None,
        description="Maildir of the development mail sink (`meritloop up`) that `/dev/mails` lists "
        "(default: data_dir/mail). Served only in development.",
    )

    @model_validator(mode="after")
    def _production_needs_a_database(self) -> NotificationSettings:
        if self.environment is Environment.production and not self.notifications_database_url:
            raise ValueError("MERITLOOP_NOTIFICATIONS_DATABASE_URL must be set in production")
        return self

    @property
    def notifications_url(self) -> str:
        if self.notifications_database_url:
            return self.notifications_database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'notifications.db').resolve()}"

    @property
    def mail_folder(self) -> Path:
        return self.mail_sink_dir or self.data_dir / "mail"


@lru_cache
def get_notification_settings() -> NotificationSettings:
    return NotificationSettings()
