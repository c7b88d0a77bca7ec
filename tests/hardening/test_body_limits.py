"""Bounded input: bodies limited per route before they are read, JSON nesting and offsets bounded.

Each case answered 500 (or read everything first) before: a 200 MB praise was read whole
before its 422, deep JSON was a RecursionError on the imports and SCIM, offset 2**64 an
OverflowError in SQLite.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest

from shared.auth import Role
from shared.limits import json_depth_exceeds
from shared.settings import ServiceName, Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.http import assert_problem

pytestmark = pytest.mark.database

MiB = 1024 * 1024
CHUNK = 64 * 1024
IMPORT_LIMIT = 6 * MiB


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_import_body_bytes": IMPORT_LIMIT})


class Stream:
    """A request body of ``size`` bytes sent in chunks, counting what the server pulled."""

    def __init__(self, size: int, fill: Callable[[int], bytes] = lambda n: b" " * n) -> None:
        self.size, self.fill, self.sent = size, fill, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.size:
            chunk = self.fill(min(CHUNK, self.size - self.sent))
            self.sent += len(chunk)
            yield chunk


@pytest.fixture
async def services(service_client: ServiceClientFactory) -> AsyncIterator[dict[ServiceName, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(service_client(name))
            for name in ("reviews", "goals", "feedback", "rewards")
        }


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


async def test_a_json_body_is_cut_at_one_mebibyte_without_reading_the_rest(
    services: dict[ServiceName, httpx.AsyncClient], auth: TokenFactory
) -> None:
    feedback = services["feedback"]
    body = Stream(200 * MiB)  # the reported attack, streamed so nothing is held in the test
    response = await feedback.post("/praise", content=body, headers={**auth(), "Content-Type": "application/json"})
    problem = assert_problem(response, 413)
    assert problem["max_bytes"] == MiB
    assert body.sent <= MiB + CHUNK, f"the service pulled {body.sent} bytes"

    declared = Stream(2 * MiB)
    response = await feedback.post(
        "/praise",
        content=declared,
        headers={**auth(), "Content-Type": "application/json", "Content-Length": str(2 * MiB)},
    )
    assert_problem(response, 413)
    assert declared.sent <= CHUNK, "a declared length above the limit is refused before reading"

    # A body under the limit is untouched.
    ok = await feedback.post("/praise", json={"receiver_ids": [], "message": "x" * 100}, headers=auth())
    assert ok.status_code != 413


@pytest.mark.parametrize(
    ("service", "path", "content_type"),
    [
        ("goals", "/goals", "application/json"),
        ("feedback", "/praise", "application/json"),
        # SCIM answers in its own error format: application/scim+json is checked by the SCIM
        # routes (the scim branch), application/json here.
        ("reviews", "/scim/v2/Users", "application/json"),
        ("reviews", "/people/import", "application/json"),
        ("rewards", "/compensation/import", "application/json"),
    ],
)
async def test_deeply_nested_json_is_a_400_not_a_500(
    services: dict[ServiceName, httpx.AsyncClient],
    auth: TokenFactory,
    scim_headers: dict[str, str],
    service: ServiceName,
    path: str,
    content_type: str,
) -> None:
    headers = scim_headers if path.startswith("/scim") else auth(Role.hr)
    headers = {**headers, "Content-Type": content_type}
    response = await services[service].post(path, content=deep_json(1000), headers=headers)
    assert response.status_code == 400, response.text
    assert "nests deeper than" in response.json()["detail"]


async def test_imports_stream_up_to_their_limit_then_answer_413(
    services: dict[ServiceName, httpx.AsyncClient], auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    header = b"email,display_name\n"
    people = Stream(IMPORT_LIMIT + 2 * MiB, lambda n: (header * (n // len(header) + 1))[:n])
    response = await services["reviews"].post(
        "/people/import", content=people, params={"dry_run": "true"}, headers={**hr, "Content-Type": "text/csv"}
    )
    assert assert_problem(response, 413)["max_bytes"] == IMPORT_LIMIT
    assert people.sent <= IMPORT_LIMIT + CHUNK

    # The compensation import holds its own, lower limit (5 MiB) and stops reading there.
    records = Stream(IMPORT_LIMIT)
    response = await services["rewards"].post(
        "/compensation/import", content=records, headers={**hr, "Content-Type": "text/csv"}
    )
    assert assert_problem(response, 413)["max_bytes"] == 5 * MiB
    assert records.sent <= 5 * MiB + CHUNK

    # Under the limit an import works as before.
    small = await services["reviews"].post(
        "/people/import",
        content=b"email,display_name\nada@example.com,Ada\n",
        params={"dry_run": "true"},
        headers={**hr, "Content-Type": "text/csv"},
    )
    assert small.status_code == 200, small.text
    assert small.json()["rows"][0]["action"] == "create"


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("reviews", "/people"),
        ("goals", "/goals"),
        ("feedback", "/praise"),
        ("rewards", "/pay-bands"),
        ("goals", "/people"),
        ("reviews", "/templates"),
    ],
)
async def test_offsets_beyond_any_list_are_422_not_500(
    services: dict[ServiceName, httpx.AsyncClient], auth: TokenFactory, service: ServiceName, path: str
) -> None:
    for offset in (2**63, 2**64, 10**30):
        response = await services[service].get(path, params={"offset": offset}, headers=auth(Role.hr))
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == "offset"
    assert (await services[service].get(path, params={"offset": 10**9}, headers=auth(Role.hr))).status_code == 200


def test_depth_is_measured_outside_strings_and_exactly() -> None:
    assert not json_depth_exceeds(deep_json(32), 32)
    assert json_depth_exceeds(deep_json(33), 32)
    assert json_depth_exceeds(b'{"a":' * 40 + b"1" + b"}" * 40, 32)
    # Brackets inside strings (escaped quotes too) do not nest anything.
    assert not json_depth_exceeds(json.dumps({"text": "[" * 500 + '\\"{' * 100}).encode(), 32)
    # Many shallow lists are fine; malformed input is left to the JSON parser.
    assert not json_depth_exceeds(json.dumps([[1]] * 10_000).encode(), 32)
    assert not json_depth_exceeds(b"[" * 1000, 32)


async def test_a_nul_character_anywhere_is_a_422_naming_where(
    services: dict[ServiceName, httpx.AsyncClient], auth: TokenFactory
) -> None:
    """PostgreSQL refuses a NUL in any text: each of these was a 500 there (and stored on SQLite)."""
    hr = auth(Role.hr)
    reviews = services["reviews"]
    query = await reviews.get("/people", params={"department": "Eng\x00", "limit": "5"}, headers=hr)
    problem = assert_problem(query, 422)
    assert problem["errors"] == [
        {"field": "department", "in": "query", "message": "holds a NUL character (\\u0000), which no text here may"}
    ]
    assert_problem(await reviews.get("/tasks/a%00b", headers=hr), 422)
    body = {
        "email": "nul@example.com",
        "display_name": "Ada\x00",
        "department": "Eng",
        "extra": [{"k": ["ok", "x\x00"]}],
    }
    posted = await reviews.post("/people", json=body, headers=hr)
    assert [error["field"] for error in assert_problem(posted, 422)["errors"]] == ["display_name", "extra.0.k.1"]
    # Nothing was stored; a text that only shows a backslash and u0000 is no NUL.
    assert (await reviews.get("/people", params={"q": "nul@example"}, headers=hr)).json()["total"] == 0
    shown = await services["feedback"].post(
        "/praise",
        json={"receiver_ids": [], "message": "typed \\u0000 on purpose"},
        headers=auth(Role.employee),
    )
    assert shown.status_code != 422 or "NUL" not in shown.text
    # An upload: refused at the NUL byte.
    upload = await reviews.post(
        "/people/import",
        content=b"email,display_name\nada@example.com,Ada\x00\n",
        params={"dry_run": "true"},
        headers={**hr, "Content-Type": "text/csv"},
    )
    assert assert_problem(upload, 422)["errors"][0]["field"] == "file"


async def test_text_no_database_stores_is_refused_in_any_encoding_and_never_a_500(
    services: dict[ServiceName, httpx.AsyncClient], auth: TokenFactory
) -> None:
    """UTF-16 JSON, lone surrogates, deep bodies of other types and JSON files all end before the database."""
    feedback, reviews, hr = services["feedback"], services["reviews"], auth(Role.hr)
    employee = {**auth(Role.employee), "Content-Type": "application/json"}
    utf16 = json.dumps({"receiver_ids": [], "message": "x\x00y"}).encode("utf-16")
    refused = assert_problem(await feedback.post("/praise", content=utf16, headers=employee), 422)
    assert [error["field"] for error in refused["errors"]] == ["message"]
    # Half of a surrogate pair: no driver encodes it (a UnicodeEncodeError, a 500, before).
    alone = b'{"receiver_ids": [], "message": "x\\ud800"}'
    refused = assert_problem(await feedback.post("/praise", content=alone, headers=employee), 422)
    assert [(error["field"], "surrogate" in error["message"]) for error in refused["errors"]] == [("message", True)]
    # A whole pair is one character (an emoji): no problem of this kind.
    paired = await feedback.post(
        "/praise", content=b'{"receiver_ids": [], "message": "\\ud83d\\ude00"}', headers=employee
    )
    assert "surrogate" not in paired.text
    # Too deep to walk, sent as another type: the parser's to refuse, not a RecursionError.
    deep = b"[" * 5000 + b'"\\u0000"' + b"]" * 5000
    plain = await feedback.post("/praise", content=deep, headers={**employee, "Content-Type": "text/plain"})
    assert 400 <= plain.status_code < 500, plain.text
    # A JSON file's escaped NUL, wherever the chunks of the upload split it.
    people = json.dumps([{"email": "nul@example.com", "display_name": "Ada\x00"}]).encode()
    split = people.index(b"\\u0000") + 3

    async def in_two_chunks() -> AsyncIterator[bytes]:
        yield people[:split]
        yield people[split:]

    imported = await reviews.post(
        "/people/import",
        content=in_two_chunks(),
        params={"dry_run": "true"},
        headers={**hr, "Content-Type": "application/json"},
    )
    assert [error["field"] for error in assert_problem(imported, 422)["errors"]] == ["import file"]
    # In a CSV file, backslash-u0000 is just text.
    csv_text = b"email,display_name\nslash@example.com,Ada \\u0000\n"
    dry = await reviews.post(
        "/people/import", content=csv_text, params={"dry_run": "true"}, headers={**hr, "Content-Type": "text/csv"}
    )
    assert dry.status_code == 200, dry.text
