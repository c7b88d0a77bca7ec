"""Merit matrices over HTTP: default and per cycle, validated as a whole, HR/admin only."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, pct
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database


def changed(**changes: Any) -> dict[str, Any]:
    matrix = copy.deepcopy(MATRIX)
    matrix.update(changes)
    return matrix


async def test_default_and_cycle_matrices_are_created_replaced_and_deleted(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr, cycle = auth(Role.hr), uuid.uuid4()
    assert_problem(await rewards.get("/merit-matrices/default", headers=hr), 404)
    created = await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["scope"], body["cycle_id"], body["basis"], body["revision"]) == ("default", None, "compa_ratio", 1)
    assert body["buckets"][2] == {"min": "1.1", "max": None, "label": "above"}
    assert body["cells"][3][0] == {"min": "4", "target": "5", "max": "6"}

    replaced = await rewards.put("/merit-matrices/default", json=changed(scale_max="5.0"), headers=auth(Role.admin))
    assert (replaced.status_code, replaced.json()["revision"], replaced.json()["id"]) == (200, 2, body["id"])

    assert_problem(await rewards.get(f"/cycles/{cycle}/merit-matrix", headers=hr), 404)
    own = await rewards.put(f"/cycles/{cycle}/merit-matrix", json=MATRIX, headers=hr)
    assert (own.status_code, own.json()["cycle_id"], own.json()["scope"]) == (201, str(cycle), str(cycle))
    assert (await rewards.get(f"/cycles/{cycle}/merit-matrix", headers=hr)).json()["id"] == own.json()["id"]
    assert (await rewards.delete(f"/cycles/{cycle}/merit-matrix", headers=hr)).status_code == 204
    assert_problem(await rewards.get(f"/cycles/{cycle}/merit-matrix", headers=hr), 404)
    assert_problem(await rewards.delete(f"/cycles/{cycle}/merit-matrix", headers=hr), 404)

    for role in (Role.employee, Role.manager):
        assert_problem(await rewards.get("/merit-matrices/default", headers=auth(role)), 403)
        assert_problem(await rewards.put("/merit-matrices/default", json=MATRIX, headers=auth(role)), 403)


async def test_an_invalid_matrix_is_a_422_naming_each_cell_or_field(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)

    async def fields(matrix: dict[str, Any]) -> set[str]:
        return problem_fields(await rewards.put("/merit-matrices/default", json=matrix, headers=hr))

    gap = [{"min": "0", "max": "0.9"}, {"min": "0.95", "max": "1.1"}, {"min": "1.1", "max": None}]
    assert await fields(changed(buckets=gap)) == {"buckets[1].min"}
    overlap = [{"min": "0", "max": "0.9"}, {"min": "0.9", "max": "1.2"}, {"min": "1.1"}]
    assert await fields(changed(buckets=overlap)) == {"buckets[2].min"}
    closed = [{"min": "0", "max": "0.9"}, {"min": "0.9", "max": "1.1"}, {"min": "1.1", "max": "9"}]
    assert await fields(changed(buckets=closed)) == {"buckets[2].max"}
    short_rows = copy.deepcopy(MATRIX["rows"])
    short_rows[3]["max"] = "4.5"
    assert await fields(changed(rows=short_rows)) == {"rows[3].max"}
    cells = copy.deepcopy(MATRIX["cells"])
    cells[2][1] = pct("3/2/4")
    cells[3][2] = pct("2/5/4")
    assert await fields(changed(cells=cells)) == {"cells[2][1].target", "cells[3][2].max"}
    assert await fields(changed(cells=MATRIX["cells"][:3])) == {"cells"}
    negative = copy.deepcopy(MATRIX["cells"])
    negative[0][0] = pct("-1/0/0")
    assert await fields(changed(cells=negative)) == {"cells.0.0.min"}
    assert await fields(changed(scale_min="5", scale_max="1")) >= {"scale_max"}
    assert await fields(changed(buckets=[])) == {"buckets"}
    assert_problem(await rewards.get("/merit-matrices/default", headers=hr), 404)  # nothing was stored
