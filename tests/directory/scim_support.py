"""Helpers for SCIM requests in tests."""

from __future__ import annotations

from typing import Any

import httpx

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MERITLOOP = "urn:ietf:params:scim:schemas:extension:meritloop:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


def user(user_name: str, **extra: Any) -> dict[str, Any]:
    enterprise = extra.pop("enterprise", None)
    body: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE] if enterprise is not None else [CORE],
        "userName": user_name,
        "name": {"givenName": user_name.split("@")[0].title(), "familyName": "Tester"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }
    if enterprise is not None:
        body[ENTERPRISE] = enterprise
    return body


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == SCIM_JSON
    body: dict[str, Any] = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    return body
