"""SCIM error bodies (RFC 7644 §3.12): ``application/scim+json`` with the Error schema.

The SCIM routes use ``ScimRoute``, which turns every error raised while handling a request
(parameter validation, authentication, the directory's rules) into a SCIM error, so
provisioning clients never see problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from scim2_models import (
    Error,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    PreconditionFailedException,
    SCIMException,
    UniquenessException,
)

from services.reviews.scim.schemas import SCIM_JSON
from services.reviews.scim.schemas import MappingError as MappingError
from shared.errors import Conflict, NotFound, Problem, ValidationFailed
from shared.openapi import ErrorFormat

logger = logging.getLogger(__name__)
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimJSONResponse(JSONResponse):
    media_type = SCIM_JSON


def error_response(status: int, detail: str, scim_type: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "schemas": [ERROR_URN],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    headers = {"WWW-Authenticate": 'Bearer realm="meritloop-scim"'} if status == 401 else None
    return ScimJSONResponse(body, status_code=status, headers=headers)


def from_scim_exception(exc: SCIMException) -> JSONResponse:
    return error_response(exc.status, exc.detail, exc.scim_type or None)


def from_validation_error(exc: ValidationError) -> JSONResponse:
    """A payload scim2-models refused: its errors carry the scimType and status."""
    errors = exc.errors()
    first = Error.from_validation_error(errors[0]) if errors else Error(status=400, detail=str(exc))
    details = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" if error["loc"] else error["msg"]
        for error in errors
    )
    return error_response(first.status or 400, details or str(first.detail), first.scim_type or "invalidValue")


def from_problem(exc: Problem) -> JSONResponse:
    """The directory's rules speak problem+json; the same refusals in SCIM terms."""
    if isinstance(exc, Conflict):
        return from_scim_exception(UniquenessException(detail=exc.detail))
    if isinstance(exc, ValidationFailed):
        return from_scim_exception(InvalidValueException(detail=exc.detail))
    if isinstance(exc, NotFound):
        return from_scim_exception(NotFoundException(detail=exc.detail))
    if exc.status == 412:
        return from_scim_exception(PreconditionFailedException(detail=exc.detail))
    return error_response(exc.status, exc.detail)


async def scim_error(exc: Exception) -> JSONResponse:
    if isinstance(exc, SCIMException):
        return from_scim_exception(exc)
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, RequestValidationError):
        fields = ", ".join(".".join(str(part) for part in error["loc"][1:]) for error in exc.errors())
        return error_response(400, f"invalid request parameters: {fields}", "invalidValue")
    if isinstance(exc, MappingError):
        return from_scim_exception(InvalidValueException(detail=str(exc)))
    if isinstance(exc, Problem):
        return from_problem(exc)
    raise exc


SCIM_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ScimError",
    "type": "object",
    "description": "RFC 7644 3.12 error response.",
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string", "const": ERROR_URN}},
        "status": {"type": "string", "description": "The HTTP status, as a string."},
        "scimType": {
            "type": "string",
            "enum": [
                "invalidFilter",
                "tooMany",
                "uniqueness",
                "mutability",
                "invalidSyntax",
                "invalidPath",
                "noTarget",
                "invalidValue",
                "invalidVers",
                "sensitive",
            ],
        },
        "detail": {"type": "string"},
    },
    "required": ["schemas", "status"],
}


class ScimRoute(APIRoute):
    """A route whose errors are SCIM errors."""

    openapi_error_format = ErrorFormat(
        SCIM_JSON, "ScimError", SCIM_ERROR_SCHEMA, invalid_input_status=400, success_media_type=SCIM_JSON
    )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (SCIMException, ValidationError, RequestValidationError, MappingError, Problem) as exc:
                return await scim_error(exc)

        return scim_handler


__all__ = ["MutabilityException", "ScimJSONResponse", "ScimRoute", "error_response", "scim_error"]
