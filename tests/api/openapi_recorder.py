"""A pytest plugin: every answer of a service in any test must be declared in its OpenAPI.

Run any part of the suite with it: ``pytest -p tests.api.openapi_recorder tests/directory``.
Each in-process service (``httpx.ASGITransport``) is wrapped; every error answer is
recorded as (service, method, route, status), and at the end each must be declared for that
route, else the run fails and lists them. The real flows of the suite reach the statuses an
unknown id or a malformed body does not (409, 412, 503...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# (title, method, route) -> statuses declared; (title, method, route, status) -> first test
_declared: dict[tuple[str, str, str], set[str]] = {}
undeclared: dict[tuple[str, str, str, int], str] = {}
_current_test = ""


def recording(app: Any) -> ASGIApp:
    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await app(scope, receive, capture)
        route = getattr(scope.get("route"), "path_format", None)
        if scope["type"] != "http" or status < 400 or route is None or not hasattr(app, "openapi"):
            return
        title, method = app.title, scope["method"].lower()
        key = (title, method, route)
        if key not in _declared:
            operation = app.openapi()["paths"].get(route, {}).get(method)
            if operation is None:
                return  # not in the schema (include_in_schema=False)
            _declared[key] = set(operation["responses"])
        if str(status) not in _declared[key]:
            undeclared.setdefault((title, method.upper(), route, status), _current_test)

    return recorder


_original_init = httpx.ASGITransport.__init__


def _init(self: httpx.ASGITransport, app: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, recording(app), *args, **kwargs)
    self.app_under_test = app  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    httpx.ASGITransport.__init__ = _init  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    httpx.ASGITransport.__init__ = _original_init  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _current_test
    _current_test = item.nodeid


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if undeclared and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not undeclared:
        terminalreporter.write_line(f"openapi recorder: every error answer declared ({len(_declared)} operations)")
        return
    terminalreporter.write_sep("=", "answers not declared in the OpenAPI")
    for (title, method, route, status), test in sorted(undeclared.items()):
        terminalreporter.write_line(f"{title}: {method} {route} -> {status}   (first in {test})")
