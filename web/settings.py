"""The web app's own settings (prefix ``MERITLOOP_WEB_``); the shared ones come from shared.settings."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.settings import SERVICES, Environment, ServiceName, Settings, sources_with_secret_files

# The web app calls the four services and the notifications component (its own process, not a service).
WebBackend = ServiceName | Literal["notifications"]
WEB_BACKENDS: tuple[WebBackend, ...] = (*SERVICES, "notifications")
NOTIFICATIONS_DEFAULT_PORT = 8105

DEVELOPMENT_SESSION_SECRET = "meritloop-web-development-session-secret"  # noqa: S105


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MERITLOOP_WEB_", env_file=".env", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # MERITLOOP_WEB_<NAME>_FILE, or a file named MERITLOOP_WEB_<NAME> in MERITLOOP_SECRETS_DIR.
        return sources_with_secret_files(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )

    port: int = Field(8100, description="HTTP port of the web app.")
    public_url: str | None = Field(
        None,
        description="The address people open, e.g. https://meritloop.example.com (OIDC redirect URI base). "
        "Unset: taken from each request.",
    )
    session_secret: str = Field(
        DEVELOPMENT_SESSION_SECRET,
        description="Key that signs the session cookie. Production refuses the development key and keys "
        "shorter than 32 characters.",
    )
    cookie_secure: bool = Field(True, description="Send the session cookie over HTTPS only (browsers allow localhost).")
    session_max_age: int = Field(
        8 * 3600,
        gt=0,
        description="Seconds a sign-in lasts at most, however often its access token is refreshed; "
        "then the person signs in again.",
    )
    token_refresh_margin: int = Field(
        60,
        ge=0,
        description="Refresh the access token (OIDC refresh token, or a newly minted development token) when it "
        "expires within this many seconds.",
    )
    development_token_ttl: int = Field(
        15 * 60,
        gt=0,
        description="Seconds a development sign-in's token is valid; a fresh one is minted before it ends.",
    )
    oidc_issuer: str | None = Field(
        None, description="Issuer URL of the identity provider; its /.well-known/openid-configuration is read."
    )
    oidc_client_id: str | None = Field(None, description="The web app's OIDC client id.")
    oidc_client_secret: str | None = Field(None, description="The web app's OIDC client secret (confidential client).")
    oidc_scope: str = Field(
        "openid profile email",
        description="Scopes asked for at sign-in. Add offline_access if the provider hands out refresh tokens "
        "only then (without a refresh token a sign-in ends when its access token does).",
    )
    goals_url: str | None = Field(None, description="Base URL of the goals service (default: host and port).")
    feedback_url: str | None = Field(None, description="Base URL of the feedback service (default: host and port).")
    reviews_url: str | None = Field(None, description="Base URL of the reviews service (default: host and port).")
    rewards_url: str | None = Field(None, description="Base URL of the rewards service (default: host and port).")
    notifications_url: str | None = Field(
        None,
        description="Base URL of the notifications component (default: host and MERITLOOP_NOTIFICATIONS_PORT, 8105).",
    )

    @model_validator(mode="after")
    def _empty_is_unset(self) -> WebSettings:
        for name in ("public_url", "oidc_issuer", "oidc_client_id", "oidc_client_secret"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None and self.oidc_client_id is not None

    def service_url(self, settings: Settings, service: WebBackend) -> str:
        url: str | None = getattr(self, f"{service}_url")
        if url:
            return url.rstrip("/")
        if service == "notifications":
            # The component's own port setting (read by `meritloop up` and the component alike).
            port = os.environ.get("MERITLOOP_NOTIFICATIONS_PORT") or NOTIFICATIONS_DEFAULT_PORT
            return f"http://{settings.host}:{port}"
        return settings.service_url(service).rstrip("/")

    def service_urls(self, settings: Settings) -> dict[WebBackend, str]:
        return {service: self.service_url(settings, service) for service in WEB_BACKENDS}

    def check(self, settings: Settings) -> None:
        """Refuse a production start that would sign cookies with a known key or has no sign-in."""
        if settings.environment is not Environment.production:
            return
        if self.session_secret == DEVELOPMENT_SESSION_SECRET or len(self.session_secret) < 32:
            raise ValueError(
                "MERITLOOP_WEB_SESSION_SECRET is the development key (or shorter than 32 characters); "
                "set a real one in production"
            )
        if not self.oidc_enabled:
            raise ValueError("MERITLOOP_WEB_OIDC_ISSUER and MERITLOOP_WEB_OIDC_CLIENT_ID must be set in production")


@lru_cache
def get_web_settings() -> WebSettings:
    return WebSettings()
