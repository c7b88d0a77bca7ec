"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://meritloop.dev/problems/"

logger = logging.getLogger(__name__)


class Problem(Exception):
    """An error with a stable type URI, a title and a human-readable detail."""

    status: int = 500
    type_name: str = "internal-error"
    title: str = "Internal Server Error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.type_name,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class BadRequest(Problem):
    status, type_name, title = 400, "bad-request", "Bad Request"


class Unauthorized(Problem):
    status, type_name, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers = {"WWW-Authenticate": 'Bearer realm="meritloop"'}


class Forbidden(Problem):
    status, type_name, title = 403, "forbidden", "Forbidden"


class PersonInactive(Forbidden):
    """The token is genuine but its person has left (deactivated in the directory)."""

    type_name, title = "person-inactive", "Person Inactive"


class NotFound(Problem):
    status, type_name, title = 404, "not-found", "Not Found"


class Conflict(Problem):
    status, type_name, title = 409, "conflict", "Conflict"


class ValidationFailed(Problem):
    """A domain rule refused the input; ``errors`` names each offending field."""

    status, type_name, title = 422, "validation-error", "Validation Error"

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail, errors=errors)

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class ServiceUnavailable(Problem):
    status, type_name, title = 503, "service-unavailable", "Service Unavailable"


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers or None,
    )


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "goal", "title") -> "goal.title"; the location kind stays in "in".
    return ".".join(str(part) for part in location[1:]) or str(location[0])


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(err["loc"]), "in": str(err["loc"][0]), "message": err["msg"]} for err in exc.errors()
    ]
    fields = ", ".join(error["field"] for error in errors)
    return problem_response(ValidationFailed(f"Invalid input in: {fields}", errors), request)


_STATUS_TYPES: dict[int, type[Problem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    503: ServiceUnavailable,
}


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    # Starlette raises these itself (404 for an unknown route, 405 for a wrong method).
    assert isinstance(exc, StarletteHTTPException)
    problem_type = _STATUS_TYPES.get(exc.status_code)
    if problem_type is not None:
        problem = problem_type(str(exc.detail))
    else:
        problem = Problem(str(exc.detail))
        problem.status, problem.type_name, problem.title = exc.status_code, "http-error", str(exc.detail)
    problem.headers.update(exc.headers or {})
    return problem_response(problem, request)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The trace goes to the log (with the trace id); the client only learns that it failed.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(Problem("An unexpected error occurred."), request)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
