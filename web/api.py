"""Calls to the four services with the signed-in person's token; their problems become ApiError."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from web.settings import WebBackend


@dataclass
class ApiError(Exception):
    """A service answered with an error (RFC 9457 problem); ``fields`` maps a field to its message."""

    status: int
    title: str
    detail: str
    fields: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def __str__(self) -> str:
        return self.detail or self.title


def _field_name(location: str | list[Any] | None) -> str:
    if isinstance(location, list):
        parts = [str(part) for part in location if part not in ("body", "query", "path")]
        return ".".join(parts)
    return str(location or "")


def problem_from(response: httpx.Response) -> ApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    fields: dict[str, str] = {}
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            name = _field_name(error.get("field") or error.get("loc"))
            if name.startswith("body."):
                name = name[5:]
            fields.setdefault(name, str(error.get("message") or error.get("msg") or ""))
    return ApiError(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase),
        detail=str(body.get("detail") or body.get("title") or response.reason_phrase),
        fields=fields,
        reason=body.get("reason"),
    )


class Services:
    """One HTTP client per service, shared by every request of the web process."""

    def __init__(
        self,
        urls: Mapping[WebBackend, str],
        transports: Mapping[WebBackend, httpx.AsyncBaseTransport] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._clients: dict[WebBackend, httpx.AsyncClient] = {}
        for name, url in urls.items():
            transport = (transports or {}).get(name)
            # trust_env=False: a proxy from the environment must not sit between the web app and the services.
            self._clients[name] = httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport, trust_env=False)

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients.values()))

    def as_person(self, token: str) -> Api:
        return Api(self, token)

    def client(self, service: WebBackend) -> httpx.AsyncClient:
        return self._clients[service]


class Api:
    """The services as one person sees them: every call carries their bearer token."""

    def __init__(self, services: Services, token: str) -> None:
        self._services = services
        self._headers = {"Authorization": f"Bearer {token}"}
        self._names: dict[str, str] = {}

    async def request(
        self,
        service: WebBackend,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
    ) -> Any:
        response = await self._services.client(service).request(
            method, path, params=params, json=json, headers=self._headers
        )
        if response.status_code >= 400:
            raise problem_from(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, service: WebBackend, path: str, **params: Any) -> Any:
        clean = {key: value for key, value in params.items() if value is not None and value != ""}
        return await self.request(service, "GET", path, params=clean)

    async def post(self, service: WebBackend, path: str, json: Any = None, **params: Any) -> Any:
        return await self.request(service, "POST", path, json=json, params=params or None)

    async def put(self, service: WebBackend, path: str, json: Any = None) -> Any:
        return await self.request(service, "PUT", path, json=json)

    async def patch(self, service: WebBackend, path: str, json: Any = None) -> Any:
        return await self.request(service, "PATCH", path, json=json)

    async def names(self, ids: list[str | uuid.UUID | None]) -> dict[str, str]:
        """Display names of people (from the directory), looked up once per request."""
        wanted = {str(person) for person in ids if person is not None and str(person) not in self._names}

        async def one(person: str) -> None:
            try:
                found = await self.get("reviews", f"/people/{person}")
            except ApiError:
                self._names[person] = person[:8]
                return
            self._names[person] = str(found.get("display_name") or person[:8])

        await asyncio.gather(*(one(person) for person in wanted))
        return dict(self._names)
