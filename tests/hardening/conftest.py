"""Fixtures of the hardening tests: the suite's settings with SCIM on."""

from __future__ import annotations

import pytest

from shared.settings import Settings

SCIM_TOKEN = "scim-provisioning-token-for-hardening-0123456789"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scim_token": SCIM_TOKEN})


@pytest.fixture
def scim_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SCIM_TOKEN}", "Content-Type": "application/scim+json"}
