from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import DEVELOPMENT_JWT_SECRET, Environment, Settings, settings_reference


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="MERITLOOP_JWT_SECRET"):
        Settings(environment=Environment.production, jwt_secret=DEVELOPMENT_JWT_SECRET)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="shorter than 32"):
        Settings(environment=Environment.production, jwt_secret="short")


def test_production_accepts_a_real_secret_or_jwks() -> None:
    Settings(environment=Environment.production, jwt_secret="x" * 40)
    Settings(environment=Environment.production, jwt_jwks_url="https://idp.example.com/jwks")


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERITLOOP_REVIEWS_PORT", "9999")
    monkeypatch.setenv("MERITLOOP_REWARDS_DATABASE_URL", "postgresql+asyncpg://db/rewards")
    settings = Settings()
    assert settings.port("reviews") == 9999
    assert settings.database_url("rewards") == "postgresql+asyncpg://db/rewards"
    assert settings.database_url("goals").startswith("sqlite+aiosqlite:///")
    assert settings.database_url("goals").endswith("goals.db")


def test_configuration_reference_is_current() -> None:
    reference = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert reference.read_text() == settings_reference(), "run: meritloop settings --markdown > docs/configuration.md"


def test_every_setting_is_documented() -> None:
    assert all(field.description for field in Settings.model_fields.values())
