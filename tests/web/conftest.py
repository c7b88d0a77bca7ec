"""Web app tests: the real services (in-process, on the test's databases and NATS) behind the web app."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from itsdangerous import TimestampSigner

from shared.auth import Role
from shared.settings import Environment, ServiceName, Settings
from tests.conftest import ServiceClientFactory, TokenFactory

# The notifications component for the notification settings page (its database, SMTP sink, clock).
from tests.notifications.conftest import (  # noqa: F401
    clock,
    notification_settings,
    notifications_database_url,
    notifier,
    smtp,
)
from tests.support.processes import free_port
from tests.support.waiting import wait_until
from web.app import SESSION_COOKIE, create_app
from web.session import Person
from web.settings import WebBackend, WebSettings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


@dataclass
class Stack:
    app: FastAPI
    services: dict[ServiceName, httpx.AsyncClient]
    web: httpx.AsyncClient
    hr_headers: dict[str, str]
    people: dict[str, str] = field(default_factory=dict)  # name -> id

    async def add_person(self, name: str, department: str, manager: str | None = None, **extra: Any) -> str:
        body: dict[str, Any] = {
            "email": f"{name.lower().replace(' ', '.')}@example.com",
            "display_name": name,
            "department": department,
            **extra,
        }
        if manager is not None:
            body["manager_id"] = self.people[manager]
        response = await self.services["reviews"].post("/people", json=body, headers=self.hr_headers)
        assert response.status_code == 201, response.text
        self.people[name] = str(response.json()["id"])
        return self.people[name]


def web_client(app: FastAPI) -> httpx.AsyncClient:
    # https: the session cookie is Secure, and a cookie jar keeps it from plain http.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://web", follow_redirects=False)


def forged_session(client: httpx.AsyncClient, person_id: uuid.UUID | str, token: str, roles: list[str]) -> None:
    """A session as the OIDC sign-in leaves it, for HR and admins (development sign-in knows no admin).

    Built by the session's own model, so the cookie keeps the layout sign-in writes."""
    person = Person(
        person_id=str(person_id),
        name=roles[0],
        roles=frozenset(roles),
        token=token,
        locale=None,
        timezone=None,
        expires_at=time.time() + 3600,
        how="oidc",
        ends_at=time.time() + 3600,
    )
    data = base64.b64encode(json.dumps({"person": person.as_session(), "csrf": "c" * 43}).encode())
    client.cookies.set(SESSION_COOKIE, TimestampSigner(WebSettings().session_secret).sign(data).decode())


async def sign_in_as(web: httpx.AsyncClient, person_id: str, next_path: str = "/") -> httpx.Response:
    page = await web.get("/signin")
    assert page.status_code == 200, page.text
    response = await web.post(
        "/signin/development", data={"csrf_token": csrf_of(page.text), "person_id": person_id, "next": next_path}
    )
    assert response.status_code == 303, response.text
    return response


async def client_of(stack: Stack, name: str) -> httpx.AsyncClient:
    """A browser of its own for ``name``, signed in (several people at once in one test)."""
    client = web_client(stack.app)
    await sign_in_as(client, stack.people[name])
    return client


def admin_session(client: httpx.AsyncClient, person_id: str, auth: TokenFactory) -> None:
    token = auth(Role.admin, person_id=uuid.UUID(person_id))["Authorization"].removeprefix("Bearer ")
    forged_session(client, person_id, token, ["admin", "employee"])


async def clients_of(stack: Stack, auth: TokenFactory, admin: str = "Adam Admin") -> dict[str, httpx.AsyncClient]:
    """A signed-in browser for everyone added so far; ``admin`` as an admin (development sign-in knows none)."""
    clients = {name: await client_of(stack, name) for name in stack.people if name != admin}
    if admin in stack.people:
        clients[admin] = web_client(stack.app)
        admin_session(clients[admin], stack.people[admin], auth)
    return clients


async def hr_org(stack: Stack, auth: TokenFactory) -> dict[str, httpx.AsyncClient]:
    """For HR's pages: Skip Level over Mia Manager over Ada Employee (Eng), Una Unrelated (Sales), Hanna
    HR, Greta Geld (HR, German) and Dora Departing (HR) in People, Adam Admin; a browser each, signed in."""
    await stack.add_person("Skip Level", "Exec")
    await stack.add_person("Mia Manager", "Eng", "Skip Level")
    await stack.add_person("Ada Employee", "Eng", "Mia Manager")
    await stack.add_person("Una Unrelated", "Sales")
    await stack.add_person("Hanna HR", "People")
    await stack.add_person("Greta Geld", "People", locale="de-DE")
    await stack.add_person("Dora Departing", "People")
    await stack.add_person("Adam Admin", "Ops")
    return await clients_of(stack, auth)


async def deactivate_dora(stack: Stack, dora: httpx.AsyncClient, probe: str) -> str:
    """Dora Departing (``hr_org``) leaves while signed in; returns her form token once ``probe``, a page of hers,
    answers 403: the service behind it has learnt of it from the directory's event."""
    token = csrf_of((await dora.get("/inbox")).text)
    assert (await dora.get(probe)).status_code != 403, "refused before she left"
    gone = await stack.services["reviews"].patch(
        f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
    )
    assert gone.status_code == 200, gone.text

    async def refused() -> bool:
        return (await dora.get(probe)).status_code == 403

    await wait_until(refused, timeout=30, message=f"{probe} refuses Dora, deactivated")
    return token


StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]


@pytest.fixture
def web_stack(service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory) -> StackFactory:
    """The web app (development sign-in) over the named services, with an HR identity for setup."""

    @asynccontextmanager
    async def open_stack(
        *names: ServiceName,
        environment: Environment = Environment.development,
        web_settings: WebSettings | None = None,
        notifications: FastAPI | None = None,
    ) -> AsyncIterator[Stack]:
        async with AsyncExitStack() as stack:
            services = {name: await stack.enter_async_context(service_client(name)) for name in names or ("reviews",)}
            transports: dict[WebBackend, httpx.AsyncBaseTransport] = {
                name: httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
                for name, client in services.items()
            }
            if notifications is not None:
                transports["notifications"] = httpx.ASGITransport(app=notifications)
            app = create_app(
                settings.model_copy(update={"environment": environment}),
                web_settings or WebSettings(),
                transports=transports,
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            web = await stack.enter_async_context(web_client(app))
            yield Stack(app, services, web, auth(Role.hr, person_id=uuid.uuid4()))

    return open_stack


@asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """``app`` on a real socket in this event loop (a browser or an OAuth client can reach it)."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
