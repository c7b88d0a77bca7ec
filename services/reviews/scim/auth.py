"""The provisioning client's bearer token: separate from people's tokens, and only for /scim/v2."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Request
from scim2_models import UnauthorizedException

from shared.openapi import SecurityScheme, register_security
from shared.settings import Environment, Settings

MIN_PRODUCTION_TOKEN_LENGTH = 32

logger = logging.getLogger(__name__)


def configured_token(settings: Settings) -> str | None:
    """The SCIM token in force, or None when SCIM is disabled (unset, or too short in production)."""
    token = settings.scim_token
    if not token:
        return None
    if settings.environment is Environment.production and len(token) < MIN_PRODUCTION_TOKEN_LENGTH:
        return None
    return token


async def scim_client(request: Request) -> None:
    """Let through only the provisioning client; a person's JWT is not accepted here."""
    settings: Settings = request.app.state.settings
    expected = configured_token(settings)
    if expected is None:
        if settings.scim_token:
            logger.warning(
                "MERITLOOP_SCIM_TOKEN is shorter than %d characters: SCIM is disabled", MIN_PRODUCTION_TOKEN_LENGTH
            )
        raise UnauthorizedException(detail="SCIM provisioning is not enabled on this service.")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedException(detail="A bearer token is required.")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise UnauthorizedException(detail="The bearer token is not the provisioning client's token.")


ScimClient = Annotated[None, Depends(scim_client)]

register_security(
    scim_client,
    SecurityScheme(
        "scimToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "The provisioning client's token (MERITLOOP_SCIM_TOKEN); only for /scim/v2.",
        },
        (401,),
    ),
)
