"""A complete OpenAPI document: every status a route can answer, its security, its error body.

FastAPI documents the happy path and a 422 of its own shape. ``install_openapi`` completes
the document from what each route is made of, so the common statuses are declared once for
every service:

- a security dependency (a person's JWT, the SCIM token) -> ``security`` and 401; a person's
  token also 403 (roles and relationships decide what each person may do);
- a path parameter -> 404 (no such resource, or one the caller may not see);
- query, header or body parameters -> 422 (a ``ValidationFailed`` problem naming the field);
- an ``If-Match`` header -> 412.

Statuses only a route's own rules give (409, 400, 503...) come from its ``responses=``,
written with ``problems(...)``, or, when a dependency gives them on every route using it,
from ``register_statuses(dependency, ...)``; every error status is described with the problem schema
(``application/problem+json``) or, for routes that set ``openapi_error_format`` (SCIM),
with their own.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from shared.auth import current_principal
from shared.errors import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
PEOPLE_SCHEME = "bearerAuth"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "A stable URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, for a person to read."},
        "instance": {"type": "string", "description": "The path of the request."},
        "errors": {
            "type": "array",
            "description": "422: each offending field.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

PEOPLE_SECURITY_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A person's access token (claims: sub = person id, roles).",
}


@dataclass(frozen=True)
class SecurityScheme:
    """A dependency that authenticates, and how the document names it."""

    name: str
    scheme: dict[str, Any]
    statuses: tuple[int, ...]


@dataclass(frozen=True)
class ErrorFormat:
    """How a route's errors look: media type, schema name and schema; 422 or 400 for bad input.

    ``success_media_type``: the media type of its other answers too, when the route answers in
    a protocol's own (SCIM's ``application/scim+json``) rather than ``application/json``.
    """

    media_type: str
    schema_name: str
    schema: dict[str, Any]
    invalid_input_status: int = 422
    success_media_type: str | None = None


PROBLEM_FORMAT = ErrorFormat(PROBLEM_JSON, "Problem", PROBLEM_SCHEMA)

_SECURITY: dict[Callable[..., Any], SecurityScheme] = {
    current_principal: SecurityScheme(PEOPLE_SCHEME, PEOPLE_SECURITY_SCHEME, (401, 403)),
}


_DEPENDENCY_STATUSES: dict[Callable[..., Any], frozenset[int]] = {}


def register_security(dependency: Callable[..., Any], scheme: SecurityScheme) -> None:
    """Declare a dependency as authentication (a service's own token, e.g. SCIM's)."""
    _SECURITY[dependency] = scheme


def register_statuses(dependency: Callable[..., Any], *statuses: int) -> None:
    """Declare what a dependency itself can answer (e.g. 503 while a key is missing) on every route using it."""
    _DEPENDENCY_STATUSES[dependency] = _DEPENDENCY_STATUSES.get(dependency, frozenset()) | set(statuses)


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the statuses a route's own rules answer; described as problems."""
    return {status: {"description": descriptions.get(f"s{status}", _phrase(status))} for status in statuses}


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    stack = [dependant]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.dependencies)


@dataclass(frozen=True)
class RouteFacts:
    security: tuple[SecurityScheme, ...]
    statuses: frozenset[int]
    error_format: ErrorFormat


def route_facts(route: Any) -> RouteFacts:
    """What a route is made of, and the error statuses that follows from it."""
    dependant: Dependant = route.dependant
    original = getattr(route, "original_route", route)
    error_format: ErrorFormat = getattr(original, "openapi_error_format", PROBLEM_FORMAT)
    security: list[SecurityScheme] = []
    statuses: set[int] = set()
    inputs = False
    for part in _dependants(dependant):
        if part.call is not None:
            statuses.update(_DEPENDENCY_STATUSES.get(part.call, ()))
        scheme = _SECURITY.get(part.call) if part.call is not None else None
        if scheme is not None and scheme not in security:
            security.append(scheme)
            statuses.update(scheme.statuses)
        if part.path_params:
            statuses.add(404)
        if part.query_params or part.header_params or part.body_params or part.cookie_params:
            inputs = True
        if any(param.alias.lower() == "if-match" for param in part.header_params):
            statuses.add(412)
    if inputs:
        statuses.add(error_format.invalid_input_status)
    return RouteFacts(tuple(security), frozenset(statuses), error_format)


def _api_routes(app: FastAPI) -> Iterator[Any]:
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, routing.APIRoute) and context.include_in_schema:
            yield context


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def complete(app: FastAPI, document: dict[str, Any], *, body_statuses: tuple[int, ...] = ()) -> dict[str, Any]:
    """Add the derived statuses, security and error schemas to a generated document.

    ``body_statuses``: what a layer in front of every route answers for any request body
    (e.g. 413 from a body-size limit), declared on each POST, PUT and PATCH.
    """
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    security_schemes = components.setdefault("securitySchemes", {})
    for route in _api_routes(app):
        facts = route_facts(route)
        ref = {"$ref": f"#/components/schemas/{facts.error_format.schema_name}"}
        schemas.setdefault(facts.error_format.schema_name, facts.error_format.schema)
        for method in route.methods or ():
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if facts.error_format.invalid_input_status != 422:
                responses.pop("422", None)
            statuses = facts.statuses | set(body_statuses) if method in BODY_METHODS else facts.statuses
            for status in statuses:
                responses.setdefault(str(status), {"description": _phrase(status)})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    # Every error, FastAPI's own 422 included, is the route's error body.
                    response["content"] = {facts.error_format.media_type: {"schema": ref}}
                elif facts.error_format.success_media_type and response.get("content"):
                    schema = next(iter(response["content"].values())).get("schema", {})
                    response["content"] = {facts.error_format.success_media_type: {"schema": schema}}
            if facts.security:
                operation["security"] = [{scheme.name: []} for scheme in facts.security]
                for scheme in facts.security:
                    security_schemes[scheme.name] = scheme.scheme
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if not security_schemes:
        components.pop("securitySchemes")
    return document


def install_openapi(app: FastAPI, *, body_statuses: tuple[int, ...] = ()) -> None:
    """Serve the completed document at /openapi.json (and in the docs pages)."""
    generated: dict[str, Any] | None = None
    completed: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        nonlocal generated, completed
        document = FastAPI.openapi(app)
        if document is not generated:
            generated, completed = document, complete(app, document, body_statuses=body_statuses)
        return completed

    app.openapi = openapi  # type: ignore[method-assign]
