"""Weighted roll-up (rules) and a roll-up that leaves out what the viewer may not see (HTTP)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.goals.rules import RollupRule, TreeNode, roll_up, roll_up_arrays
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.goals.conftest import Member, add_people


def test_children_weigh_by_their_weights_where_set() -> None:
    root, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    nodes = [
        TreeNode(root, None, 0, False, False),
        TreeNode(a, root, 100, True, False, weight=75),
        TreeNode(b, root, 0, True, False, weight=25),
    ]
    tree = roll_up(nodes, root)
    assert (tree.rollup, tree.rule) == (75.0, RollupRule.weighted)
    assert nodes[1].rule is RollupRule.own


def test_unweighted_children_and_own_measure_count_as_an_average_weighted_child() -> None:
    # Weights 60 and (none) and the parent's own measure: the average weight is 60, so all three
    # count alike here: (90 + 30 + 0) / 3.
    rollup, _, _, rules = roll_up_arrays(
        [None, 0, 0], [0, 90, 30], [True, True, True], [False] * 3, 0, [None, 60, None]
    )
    assert (rollup[0], rules[0]) == (40.0, RollupRule.weighted)
    rollup, _, _, rules = roll_up_arrays(
        [None, 0, 0, 0], [0, 90, 30, 0], [False] * 4, [False] * 4, 0, [None, 30, 10, None]
    )
    # 90*30 + 30*10 + 0*20 over 60
    assert (rollup[0], rules[0]) == (50.0, RollupRule.weighted)


def test_no_weights_or_only_zero_weights_is_the_plain_mean() -> None:
    for weights in ([None, None, None], [None, 0.0, 0.0]):
        rollup, _, _, rules = roll_up_arrays([None, 0, 0], [0, 90, 30], [False] * 3, [False] * 3, 0, weights)
        assert (rollup[0], rules[0]) == (60.0, RollupRule.mean)


def test_cancelled_children_do_not_count_even_with_a_weight() -> None:
    rollup, _, _, rules = roll_up_arrays(
        [None, 0, 0], [0, 20, 100], [False] * 3, [False, False, True], 0, [None, 10, 90]
    )
    assert (rollup[0], rules[0]) == (20.0, RollupRule.weighted)


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/goals", json={"title": "Ship the billing service v2", **body}, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.database
async def test_a_private_childs_progress_does_not_show_through_a_public_parent(
    goals: httpx.AsyncClient, auth: TokenFactory
) -> None:
    lead, ada, bob, outsider = (uuid.uuid4() for _ in range(4))
    await add_people(goals, [Member(lead), Member(ada, lead), Member(bob, lead), Member(outsider)])
    team = await _create(goals, auth(Role.manager, person_id=lead), level="team", title="Team goal everyone sees")
    kr = {"key_results": [{"title": "Customer calls", "target_value": 10}]}
    secret = await _create(goals, auth(person_id=ada), aligned_to_id=team["id"], visibility="private", weight=80, **kr)
    public = await _create(goals, auth(person_id=bob), aligned_to_id=team["id"], weight=20, **kr)
    for goal, owner, value in ((secret, ada, 10), (public, bob, 5)):
        body = {"key_result_id": goal["key_results"][0]["id"], "value": value}
        response = await goals.post(f"/goals/{goal['id']}/check-ins", json=body, headers=auth(person_id=owner))
        assert response.status_code == 201, response.text

    async def root_of(headers: dict[str, str]) -> dict[str, Any]:
        response = await goals.get(f"/goals/{team['id']}/tree", headers=headers)
        assert response.status_code == 200, response.text
        root: dict[str, Any] = response.json()["root"]
        return root

    # Who sees the private goal gets 100 * 0.8 + 50 * 0.2 = 90, weighted.
    for headers in (auth(person_id=ada), auth(Role.manager, person_id=lead), auth(Role.hr)):
        root = await root_of(headers)
        assert (root["rollup_progress"], root["rollup_rule"]) == (90.0, "weighted")
        assert {child["id"]: child["weight"] for child in root["children"]} == {secret["id"]: 80, public["id"]: 20}
    # Who does not gets only Bob's 50: the private 100 % does not show through.
    for headers in (auth(person_id=bob), auth(person_id=outsider)):
        root = await root_of(headers)
        assert [child["id"] for child in root["children"]] == [public["id"]]
        assert (root["rollup_progress"], root["rollup_rule"]) == (50.0, "weighted")
