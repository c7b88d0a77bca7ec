"""Calls to the four services with the signed-in person's token; their problems become ApiError."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
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
    # Every entry of the problem's errors as it came (an import's carry a row and a column).
    errors: list[dict[str, Any]] = field(default_factory=list)

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
        errors=[error for error in body.get("errors") or [] if isinstance(error, dict)],
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

    def as_person(self, token: str, renew: Callable[[str], Awaitable[str]] | None = None) -> Api:
        return Api(self, token, renew)

    def client(self, service: WebBackend) -> httpx.AsyncClient:
        return self._clients[service]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# The directory's GET /people takes up to 200 ids a call; fewer keeps each URL short.
NAMES_PER_CALL = 100


class Api:
    """The services as one person sees them: every call carries their bearer token.

    A token the web app still took for valid can be refused by the time a call reaches the service (a
    slow request, clocks apart). With ``renew`` (given the refused token, it returns a new one or raises
    when the sign-in has ended) such a call is sent once more with a renewed token: a 401 means the
    service did nothing, so a form is not lost to it. Calls of one page refused together renew once."""

    def __init__(self, services: Services, token: str, renew: Callable[[str], Awaitable[str]] | None = None) -> None:
        self._services = services
        self._token = token
        self._renew = renew
        self._renewing = asyncio.Lock()
        self._names: dict[str, str] = {}

    async def _send(
        self, service: WebBackend, method: str, path: str, headers: Mapping[str, str] | None = None, **options: Any
    ) -> httpx.Response:
        client = self._services.client(service)
        token = self._token
        sent = {**(headers or {}), "Authorization": f"Bearer {token}"}
        response = await client.request(method, path, headers=sent, **options)
        if response.status_code != 401 or self._renew is None:
            return response
        async with self._renewing:
            if self._token == token:
                self._token = await self._renew(token)
        sent = {**(headers or {}), "Authorization": f"Bearer {self._token}"}
        return await client.request(method, path, headers=sent, **options)

    async def request(
        self,
        service: WebBackend,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
    ) -> Any:
        response = await self._send(service, method, path, params=params, json=json)
        if response.status_code >= 400:
            raise problem_from(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def upload(self, service: WebBackend, path: str, content: bytes, content_type: str, **params: Any) -> Any:
        """A file posted as it is (an import), answered in JSON; a problem raises as for ``request``."""
        response = await self._send(
            service, "POST", path, headers={"Content-Type": content_type}, content=content, params=params or None
        )
        if response.status_code >= 400:
            raise problem_from(response)
        return response.json()

    async def text(self, service: WebBackend, path: str) -> str:
        """A body that is not JSON (a calendar file), as text; a problem raises as for ``request``."""
        response = await self._send(service, "GET", path)
        if response.status_code >= 400:
            raise problem_from(response)
        return response.text

    async def get(self, service: WebBackend, path: str, **params: Any) -> Any:
        clean = {key: value for key, value in params.items() if value is not None and value != ""}
        return await self.request(service, "GET", path, params=clean)

    async def post(self, service: WebBackend, path: str, json: Any = None, **params: Any) -> Any:
        return await self.request(service, "POST", path, json=json, params=params or None)

    async def put(self, service: WebBackend, path: str, json: Any = None) -> Any:
        return await self.request(service, "PUT", path, json=json)

    async def patch(self, service: WebBackend, path: str, json: Any = None) -> Any:
        return await self.request(service, "PATCH", path, json=json)

    async def delete(self, service: WebBackend, path: str) -> Any:
        return await self.request(service, "DELETE", path)

    async def names(self, ids: list[str | uuid.UUID | None]) -> dict[str, str]:
        """Display names of people (from the directory), looked up once per request, a page of ids per call."""
        wanted = sorted({str(person) for person in ids if person is not None and str(person) not in self._names})

        async def chunk(people: list[str]) -> None:
            params = [("id", person) for person in people if _is_uuid(person)] + [("limit", str(len(people)))]
            if len(params) == 1:
                return
            try:
                found = await self.request("reviews", "GET", "/people", params=params)
            except ApiError:
                return  # the page still shows, with short ids for names
            for item in found["items"]:
                self._names[str(item["id"])] = str(item.get("display_name") or str(item["id"])[:8])

        await asyncio.gather(*(chunk(wanted[i : i + NAMES_PER_CALL]) for i in range(0, len(wanted), NAMES_PER_CALL)))
        for person in wanted:
            self._names.setdefault(person, person[:8])  # not in the directory (or not an id at all)
        return dict(self._names)
