"""Bounded input: request bodies limited per route before they are read, JSON nesting limited.

An ASGI middleware, outermost in every service, so nothing of the application (FastAPI's
body parsing, the form parser, an import endpoint reading ``request.body()``) ever holds
more than a route's limit in memory:

- **JSON routes** (every route not marked otherwise): the body is read here, up to
  ``max_json_body_bytes``; beyond, 413 without reading further. An ``application/json``
  body nested deeper than ``max_json_depth`` is answered 400 (Python's parser and every
  validator after it recurse per level, and a body of 1,000 brackets used to end as a 500).
- **Upload routes** (imports, marked with ``UPLOAD_ROUTE``): the body streams through to the
  application, counted, and the request fails 413 the moment it passes
  ``max_import_body_bytes`` (or the route's own smaller limit).

A declared ``Content-Length`` above the limit is refused before a byte is read.

No text may hold a NUL character: PostgreSQL refuses one in any text value, so a ``%00`` in the
query or the path, or a ``\u0000`` in a JSON string, used to end in a 500 there (and be stored
on SQLite). Nor may a JSON string hold half of a surrogate pair alone (``\ud800``): no driver
encodes it. Such a request is answered 422 naming the parameter or the field, before the
application sees it; an upload is refused with 422 at the first NUL byte in it, and a JSON
upload's escapes are checked whole by the endpoint (``check_json_upload``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.routing import compile_path

from shared.errors import PROBLEM_JSON, BadRequest, Problem, ValidationFailed

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_KEY = "x-meritloop-upload"
UPLOAD_ROUTE: dict[str, Any] = {UPLOAD_KEY: True}
"""``openapi_extra`` of a route that takes a file: streamed, up to the import limit."""


def upload_route(max_bytes: int | None = None) -> dict[str, Any]:
    """``openapi_extra`` for an import route; ``max_bytes`` lowers the import limit for this route."""
    return {UPLOAD_KEY: True if max_bytes is None else max_bytes}


class PayloadTooLarge(Problem):
    status, type_name, title = 413, "payload-too-large", "Content Too Large"


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_LEAF_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True if ``body`` (JSON text) nests arrays and objects deeper than ``max_depth``.

    Linear passes in C, no recursion: strings are dropped (their brackets do not count),
    then only brackets are kept, and each pass removes the innermost empty pairs: the
    number of passes until nothing is left is the depth. Malformed input (unbalanced
    brackets) answers False: the JSON parser then reports it properly.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    brackets = _STRING.sub(b"", body).translate(None, delete=_NOT_BRACKETS)
    for _level in range(max_depth):
        if not brackets:
            return False
        shorter = _LEAF_PAIR.sub(b"", brackets)
        if len(shorter) == len(brackets):
            return False
        brackets = shorter
    return bool(brackets) and _LEAF_PAIR.search(brackets) is not None


def check_json_depth(body: bytes, max_depth: int, *, field: str = "body") -> None:
    """Raise 400 for a JSON body nested deeper than ``max_depth`` (for bodies read by an endpoint)."""
    if json_depth_exceeds(body, max_depth):
        raise BadRequest(f"The JSON {field} nests deeper than {max_depth} levels.")


NUL = "\x00"
NO_NUL = "holds a NUL character (\\u0000), which no text here may"
NO_SURROGATE = "holds half of a UTF-16 surrogate pair (\\ud800-\\udfff) alone, which no text here may"
# Only a body with one of these in it is parsed a second time: a NUL or a surrogate as JSON
# escapes them, or a NUL byte (which UTF-16 and UTF-32 JSON text is full of).
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])|\x00")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _nul_in_query(scope: Scope) -> ValidationFailed | None:
    raw = bytes(scope.get("query_string", b""))
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    names = sorted(
        {name for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if NUL in name + value}
    )
    errors = [{"field": name.replace(NUL, "\\u0000"), "in": "query", "message": NO_NUL} for name in names]
    return ValidationFailed(f"{', '.join(error['field'] for error in errors)}: {NO_NUL}", errors) if errors else None


def _nul_in_path(scope: Scope) -> ValidationFailed | None:
    path = str(scope.get("path", ""))
    if NUL not in path and NUL not in unquote(bytes(scope.get("raw_path") or b"").decode("latin-1")):
        return None
    return ValidationFailed(f"path: {NO_NUL}", [{"field": "path", "in": "path", "message": NO_NUL}])


def _refused_text(value: str) -> str | None:
    # Neither database stores these: PostgreSQL refuses a NUL, and no driver encodes a lone surrogate.
    if NUL in value:
        return NO_NUL
    if _SURROGATE.search(value):
        return NO_SURROGATE
    return None


def _escaped(key: str) -> str:
    # A key named in an error is shown with its NUL or surrogate as JSON writes them.
    return "".join(f"\\u{ord(c):04x}" if c == NUL or _SURROGATE.match(c) else c for c in key)


def _bad_strings(value: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """The places (``items.3.name``) of the JSON strings, keys included, no database stores, and why."""
    if isinstance(value, str):
        if (why := _refused_text(value)) is not None:
            yield ".".join(at), why
    elif isinstance(value, dict):
        for key, item in value.items():
            if (why := _refused_text(key)) is not None:
                yield ".".join((*at, _escaped(key))), why
            yield from _bad_strings(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, (*at, str(index)))


def nul_in_json(body: bytes, *, field: str | None = None) -> ValidationFailed | None:
    """422 naming each field of a JSON body whose text holds a NUL or a lone surrogate; None when none does.

    ``field`` names a whole file instead (an upload). A text that merely shows a backslash and
    ``u0000`` passes. Bodies that are no JSON, or nest too deep to walk, are the parser's to refuse."""
    if _SUSPECT.search(body) is None:
        return None
    try:
        parsed = json.loads(body)  # bytes: UTF-8, UTF-16 or UTF-32, as FastAPI reads them
        places = list(dict.fromkeys(_bad_strings(parsed)))[:20]
    except (ValueError, RecursionError):
        return None
    if not places:
        return None
    if field is not None:
        return ValidationFailed(f"{field}: {places[0][1]}", [{"field": field, "message": places[0][1]}])
    errors = [{"field": place or "body", "message": why} for place, why in places]
    return ValidationFailed(f"{', '.join(error['field'] for error in errors)}: {errors[0]['message']}", errors)


def check_json_upload(body: bytes, max_depth: int, *, field: str = "body") -> None:
    """For a JSON file an endpoint reads itself: 400 past ``max_depth``, 422 for text no database stores.

    The middleware only refuses an upload's NUL bytes as they arrive; the escapes need the whole file."""
    check_json_depth(body, max_depth, field=field)
    if (refused := nul_in_json(body, field=field)) is not None:
        raise refused


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        openapi: Callable[[], dict[str, Any]],
        max_json_bytes: int,
        max_upload_bytes: int,
        max_json_depth: int,
    ) -> None:
        self.app = app
        self._openapi = openapi
        self._uploads: list[tuple[str, re.Pattern[str], int]] | None = None
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = _nul_in_path(scope) or _nul_in_query(scope)
        if refused is not None:
            await _answer(scope, send, refused)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        upload = await self._upload_limit(scope)
        limit = self.max_json_bytes if upload is None else upload
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(scope, send, _too_large(limit))
            return
        if upload is not None:
            await self.app(scope, _counting(receive, limit), send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _answer(scope, send, _too_large(limit))
                return
        if _is_json(scope) and json_depth_exceeds(bytes(body), self.max_json_depth):
            problem = BadRequest(f"The JSON body nests deeper than {self.max_json_depth} levels.")
            await _answer(scope, send, problem)
            return
        if (with_nul := nul_in_json(bytes(body))) is not None:
            await _answer(scope, send, with_nul)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _upload_limit(self, scope: Scope) -> int | None:
        if self._uploads is None:
            # Building the OpenAPI document takes half a second for the largest service: once,
            # and off the event loop.
            self._uploads = await asyncio.to_thread(self._upload_routes)
        method, path = scope["method"], scope["path"]
        for upload_method, pattern, limit in self._uploads:
            if upload_method == method and pattern.match(path):
                return limit
        return None

    def _upload_routes(self) -> list[tuple[str, re.Pattern[str], int]]:
        # Read from the OpenAPI document: routes of included routers are not listed one by one
        # in ``app.routes``, and the document already joins every prefix to its path.
        found = []
        for path, operations in self._openapi().get("paths", {}).items():
            for method, operation in operations.items():
                marker = operation.get(UPLOAD_KEY) if isinstance(operation, dict) else None
                if marker is None or marker is False:
                    continue
                limit = self.max_upload_bytes if marker is True else min(int(marker), self.max_upload_bytes)
                found.append((method.upper(), compile_path(path)[0], limit))
        return found


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this route accepts ({limit} bytes).", max_bytes=limit)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _is_json(scope: Scope) -> bool:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    # No content type: FastAPI reads a JSON body anyway. Other ``+json`` types belong to
    # protocols that answer in their own error format (SCIM's ``application/scim+json``):
    # their routes check the depth themselves.
    return not content_type or content_type == "application/json"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                raise _too_large(limit)
            # A NUL byte only: a JSON file's escapes are checked whole (check_json_upload), and a
            # CSV's backslash-u0000 is four characters of text.
            if b"\x00" in chunk:
                raise ValidationFailed(f"file: {NO_NUL}", [{"field": "file", "message": NO_NUL}])
        return message

    return counting


# SCIM clients (identity providers) read RFC 7644's error body, not problem+json (section 3.12).
SCIM_PATH_PREFIX = "/scim/"
SCIM_ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


async def _answer(scope: Scope, send: Send, problem: Problem) -> None:
    path = str(scope.get("path", ""))
    if path.startswith(SCIM_PATH_PREFIX):
        scim: dict[str, Any] = {"schemas": [SCIM_ERROR_URN], "status": str(problem.status), "detail": problem.detail}
        if problem.status == 400:
            scim["scimType"] = "invalidSyntax"
        body, content_type = json.dumps(scim).encode(), SCIM_JSON
    else:
        body, content_type = json.dumps(problem.body(instance=path)).encode(), PROBLEM_JSON
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
