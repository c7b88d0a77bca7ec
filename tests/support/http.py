"""Assertions on RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import httpx

from shared.errors import PROBLEM_JSON


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def problem_fields(response: httpx.Response) -> set[str]:
    return {error["field"] for error in assert_problem(response, 422)["errors"]}
