"""Changing a goal in the pages: its fields, key results and milestones, through the goals service.

Who may change it is the goals service's rule (the owner, their managers at any level, admins;
HR reads an individual goal but does not change it); the pages pass its answers on. Every
refused field stands beside its own form.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, admin_session, client_of, csrf_of, web_client

pytestmark = pytest.mark.database


async def post(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/goals")).text)
    return await client.post(path, data={"csrf_token": token, **fields})


async def goal_of(stack: Stack, goal_id: str) -> dict[str, Any]:
    found = await stack.services["goals"].get(f"/goals/{goal_id}", headers=stack.hr_headers)
    assert found.status_code == 200, found.text
    goal: dict[str, Any] = found.json()
    return goal


async def test_the_owner_changes_a_goal_its_key_results_and_milestones(web_stack: StackFactory) -> None:
    async with web_stack("reviews", "goals") as stack:
        await stack.add_person("Mona Manager", "Eng")
        owner = await stack.add_person("Emil Employee", "Eng", "Mona Manager")

        async def known() -> bool:
            return (await stack.services["goals"].get(f"/people/{owner}", headers=stack.hr_headers)).status_code == 200

        await wait_until(known, timeout=30, message="goals knows Emil")
        body = {"title": "Halve the build time", "owner_id": owner, "period": "2026-H2", "weight": 40}
        created = await stack.services["goals"].post(
            "/goals", json={**body, "due_date": "2026-12-31"}, headers=stack.hr_headers
        )
        assert created.status_code == 201, created.text
        goal_id = created.json()["id"]
        emil = await client_of(stack, "Emil Employee")
        edit = f"/goals/{goal_id}/edit"

        listed = (await emil.get("/goals")).text
        assert f'href="{edit}"' in listed
        page = await emil.get(edit)
        assert page.status_code == 200
        assert 'value="Halve the build time"' in page.text
        assert 'value="2026-H2"' in page.text  # the period as it was typed
        assert 'value="40"' in page.text
        assert 'value="2026-12-31"' in page.text

        # The goal's fields; a weight out of range is named beside its field, the typed text kept.
        typed = {"goal-title": "Halve the CI time", "goal-period": "2026-H2"}
        bad = await post(emil, edit, **typed, **{"goal-weight": "250"})
        assert bad.status_code == 422
        assert 'id="error-goal-weight"' in bad.text
        assert 'value="Halve the CI time"' in bad.text
        saved = await post(emil, edit, **typed, **{"goal-weight": "30", "goal-due_date": ""})  # the date emptied
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{edit}?saved=goal"
        goal = await goal_of(stack, goal_id)
        assert (goal["title"], goal["weight"], goal["due_date"]) == ("Halve the CI time", 30, None)

        # A key result: added, then its target changed; a target that is not a number is refused.
        added = await post(
            emil,
            f"/goals/{goal_id}/key-results",
            **{"kr-new-title": "p95 build minutes", "kr-new-start_value": "40", "kr-new-target_value": "20"},
        )
        assert added.status_code == 303, added.text
        key_result = (await goal_of(stack, goal_id))["key_results"][0]
        assert (key_result["title"], key_result["direction"]) == ("p95 build minutes", "decrease")
        prefix = f"kr-{key_result['id']}-"
        path = f"/goals/{goal_id}/key-results/{key_result['id']}"
        wrong = await post(emil, path, **{f"{prefix}title": "p95 build minutes", f"{prefix}target_value": "soon"})
        assert wrong.status_code == 422
        assert f'id="error-{prefix}target_value"' in wrong.text
        changed = await post(emil, path, **{f"{prefix}title": "p95 build minutes", f"{prefix}target_value": "15"})
        assert changed.status_code == 303, changed.text
        assert (await goal_of(stack, goal_id))["key_results"][0]["target_value"] == 15
        nameless = await post(emil, f"/goals/{goal_id}/key-results", **{"kr-new-title": ""})
        assert nameless.status_code == 422
        assert 'id="error-kr-new-title"' in nameless.text

        # A milestone: a missing date is named; added; marked done, then undone.
        undated = await post(emil, f"/goals/{goal_id}/milestones", **{"ms-new-title": "Cache the toolchain"})
        assert undated.status_code == 422
        assert 'id="error-ms-new-due_date"' in undated.text
        assert 'value="Cache the toolchain"' in undated.text
        added = await post(
            emil,
            f"/goals/{goal_id}/milestones",
            **{"ms-new-title": "Cache the toolchain", "ms-new-due_date": "2026-09-30"},
        )
        assert added.status_code == 303, added.text
        milestone = (await goal_of(stack, goal_id))["milestones"][0]
        assert milestone["completed_at"] is None
        prefix = f"ms-{milestone['id']}-"
        path = f"/goals/{goal_id}/milestones/{milestone['id']}"
        fields = {f"{prefix}title": "Cache the toolchain", f"{prefix}due_date": "2026-09-30"}
        assert (await post(emil, path, **fields, **{f"{prefix}done": "1"})).status_code == 303
        assert (await goal_of(stack, goal_id))["milestones"][0]["completed_at"] is not None
        assert "Not done after all" in (await emil.get(edit)).text
        assert (await post(emil, path, **fields, **{f"{prefix}done": "0"})).status_code == 303
        assert (await goal_of(stack, goal_id))["milestones"][0]["completed_at"] is None

        # The status: another one needs a reason (named beside it); empty returns to the derived one.
        status = f"/goals/{goal_id}/status"
        unexplained = await post(emil, status, **{"status-status": "at_risk"})
        assert unexplained.status_code == 422
        assert 'id="error-status-reason"' in unexplained.text
        explained = await post(emil, status, **{"status-status": "at_risk", "status-reason": "The CI vendor is late"})
        assert explained.status_code == 303, explained.text
        held = await goal_of(stack, goal_id)
        assert (held["status"], held["status_override"], held["status_reason"]) == (
            "at_risk",
            "at_risk",
            "The CI vendor is late",
        )
        assert "instead of the derived status, because: The CI vendor is late" in (await emil.get(edit)).text
        assert (await post(emil, status, **{"status-status": ""})).status_code == 303
        assert (await goal_of(stack, goal_id))["status_override"] is None

        # Who may see it: private, then public again; a choice the service does not know is named.
        fields = {"goal-title": "Halve the CI time", "goal-period": "2026-H2", "goal-weight": "30"}
        assert '<option value="public" selected>' in (await emil.get(edit)).text
        assert (await post(emil, edit, **fields, **{"goal-visibility": "private"})).status_code == 303
        assert (await goal_of(stack, goal_id))["visibility"] == "private"
        assert '<option value="private" selected>' in (await emil.get(edit)).text
        secret = await post(emil, edit, **fields, **{"goal-visibility": "secret"})
        assert secret.status_code == 422
        assert 'id="error-goal-visibility"' in secret.text
        assert (await post(emil, edit, **fields, **{"goal-visibility": "public"})).status_code == 303
        assert (await goal_of(stack, goal_id))["visibility"] == "public"

        # Removing the key result asks first and names the milestone that stays without it.
        tied = {"ms-new-title": "Builds under 20 minutes", "ms-new-due_date": "2026-10-31"}
        tied |= {"ms-new-key_result_id": key_result["id"], "ms-new-target_value": "20"}
        assert (await post(emil, f"/goals/{goal_id}/milestones", **tied)).status_code == 303
        remove = f"/goals/{goal_id}/key-results/{key_result['id']}/remove"
        assert f'href="{remove}"' in (await emil.get(edit)).text
        confirm = await emil.get(remove)
        assert confirm.status_code == 200
        assert "Remove the key result p95 build minutes?" in confirm.text
        assert "<li>Builds under 20 minutes</li>" in confirm.text
        assert f'href="{edit}"' in confirm.text  # no, back
        assert (await emil.post(remove, data={})).status_code == 403  # no CSRF token
        assert len((await goal_of(stack, goal_id))["key_results"]) == 1
        removed = await post(emil, remove)
        assert removed.status_code == 303, removed.text
        assert removed.headers["location"] == f"{edit}?saved=removed"
        held = await goal_of(stack, goal_id)
        assert held["key_results"] == []
        assert [(m["title"], m["key_result_id"]) for m in held["milestones"] if m["target_value"] == 20] == [
            ("Builds under 20 minutes", None)
        ]
        assert "Removed." in (await emil.get(f"{edit}?saved=removed")).text
        assert (await post(emil, remove)).status_code == 303  # pressed twice: gone already
        assert (await emil.get(remove)).status_code == 404

        # And a milestone.
        remove = f"/goals/{goal_id}/milestones/{milestone['id']}/remove"
        assert f'href="{remove}"' in (await emil.get(edit)).text
        assert "Remove the milestone Cache the toolchain?" in (await emil.get(remove)).text
        assert (await post(emil, remove)).status_code == 303
        assert [m["title"] for m in (await goal_of(stack, goal_id))["milestones"]] == ["Builds under 20 minutes"]
        assert (await emil.get(f"/goals/{goal_id}/milestones/{uuid.uuid4()}/remove")).status_code == 404
        assert (await emil.get(f"/goals/{goal_id}/milestones/not-an-id/remove")).status_code == 404

        # An address that names no goal, and a post without the CSRF token.
        assert (await emil.get("/goals/not-a-goal/edit")).status_code == 404
        assert (await emil.get(f"/goals/{uuid.uuid4()}/edit")).status_code == 404
        assert (await emil.post(edit, data={"goal-title": "x"})).status_code == 403


NAMES = ("Emil Employee", "Mona Manager", "Skip Level", "Ada Admin", "Hanna HR", "Una Unrelated")


async def test_who_may_change_a_goal(web_stack: StackFactory, auth: TokenFactory) -> None:
    """Self, manager, skip-level and admin change it; HR reads but does not; a colleague and a leaver are refused."""
    async with web_stack("reviews", "goals") as stack:
        await stack.add_person("Skip Level", "Exec")
        await stack.add_person("Mona Manager", "Eng", "Skip Level")
        owner = await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        await stack.add_person("Una Unrelated", "Sales")
        await stack.add_person("Hanna HR", "People")
        leaver = await stack.add_person("Dora Departing", "Eng", "Mona Manager")
        admin = await stack.add_person("Ada Admin", "IT")

        async def known() -> bool:
            for person in (owner, leaver, admin):
                found = await stack.services["goals"].get(f"/people/{person}", headers=stack.hr_headers)
                if found.status_code != 200:
                    return False
            return True

        await wait_until(known, timeout=30, message="goals knows everyone")
        key_results = [{"title": f"KR of {name}"} for name in NAMES]
        goal = await stack.services["goals"].post(
            "/goals",
            json={"title": "Ship the release", "owner_id": owner, "key_results": key_results},
            headers=stack.hr_headers,
        )
        assert goal.status_code == 201, goal.text
        goal_id = goal.json()["id"]
        edit = f"/goals/{goal_id}/edit"
        clients = {name: await client_of(stack, name) for name in ("Emil Employee", "Mona Manager", "Skip Level")}
        clients["Una Unrelated"] = await client_of(stack, "Una Unrelated")
        clients["Hanna HR"] = await client_of(stack, "Hanna HR")
        dora = await client_of(stack, "Dora Departing")
        admin_client = web_client(stack.app)
        admin_session(admin_client, admin, auth)
        clients["Ada Admin"] = admin_client

        expected = {  # who: (the edit page, a change)
            "Emil Employee": (200, 303),
            "Mona Manager": (200, 303),
            "Skip Level": (200, 303),
            "Ada Admin": (200, 303),
            "Hanna HR": (200, 403),  # reads every goal, changes only non-individual ones
            "Una Unrelated": (200, 403),  # a public goal: readable, not hers to change
        }
        for name, (page_status, change_status) in expected.items():
            client = clients[name]
            assert (await client.get(edit)).status_code == page_status, name
            changed = await post(client, edit, **{"goal-title": f"Ship the release ({name})"})
            assert changed.status_code == change_status, (name, changed.text[:300])
            milestone = {"ms-new-title": name, "ms-new-due_date": "2026-12-01"}
            added = await post(client, f"/goals/{goal_id}/milestones", **milestone)
            assert added.status_code == change_status, name
            shown = await post(client, f"/goals/{goal_id}/status", **{"status-status": "", "status-reason": ""})
            assert shown.status_code == change_status, name
        titles = [m["title"] for m in (await goal_of(stack, goal_id))["milestones"]]
        assert sorted(titles) == sorted(name for name, (_page, change) in expected.items() if change == 303)
        assert (await goal_of(stack, goal_id))["title"] == "Ship the release (Ada Admin)"

        # Removing: everyone who reads the goal sees the question; only those who may change it remove.
        held = await goal_of(stack, goal_id)
        kr_of = {kr["title"].removeprefix("KR of "): kr["id"] for kr in held["key_results"]}
        milestone_of = {m["title"]: m["id"] for m in held["milestones"]}
        first = next(iter(milestone_of.values()))
        refused_first = sorted(expected.items(), key=lambda entry: entry[1][1] == 303)
        for name, (page_status, change_status) in refused_first:
            client = clients[name]
            remove_kr = f"/goals/{goal_id}/key-results/{kr_of[name]}/remove"
            assert (await client.get(remove_kr)).status_code == page_status, name
            assert (await post(client, remove_kr)).status_code == change_status, name
            remove_ms = f"/goals/{goal_id}/milestones/{milestone_of.get(name, first)}/remove"
            assert (await client.get(remove_ms)).status_code == page_status, name
            assert (await post(client, remove_ms)).status_code == change_status, name
        held = await goal_of(stack, goal_id)
        assert sorted(kr["title"] for kr in held["key_results"]) == ["KR of Hanna HR", "KR of Una Unrelated"]
        assert held["milestones"] == []

        plan = {"title": "Private plan", "owner_id": owner, "visibility": "private"}
        private = await stack.services["goals"].post("/goals", json=plan, headers=stack.hr_headers)
        assert private.status_code == 201, private.text
        hidden = f"/goals/{private.json()['id']}/edit"
        assert (await clients["Una Unrelated"].get(hidden)).status_code == 404  # not told it exists
        assert (await post(clients["Una Unrelated"], hidden, **{"goal-title": "x"})).status_code == 404
        hidden_kr = f"/goals/{private.json()['id']}/key-results/{uuid.uuid4()}/remove"
        assert (await clients["Una Unrelated"].get(hidden_kr)).status_code == 404
        assert (await post(clients["Una Unrelated"], hidden_kr)).status_code == 404

        # Dora leaves while signed in: the goals service refuses her once it learns it.
        csrf = csrf_of((await dora.get("/goals")).text)
        directory = stack.services["reviews"]
        gone = await directory.patch(f"/people/{leaver}", json={"active": False}, headers=stack.hr_headers)
        assert gone.status_code == 200, gone.text

        async def refused() -> bool:
            answer = await dora.post(edit, data={"csrf_token": csrf, "goal-title": "Dora was here"})
            return answer.status_code == 403

        await wait_until(refused, timeout=30, message="the goals service learns Dora left")
        assert (await goal_of(stack, goal_id))["title"] == "Ship the release (Ada Admin)"
        kept = f"/goals/{goal_id}/key-results/{kr_of['Hanna HR']}/remove"
        assert (await dora.post(kept, data={"csrf_token": csrf})).status_code == 403
        assert len((await goal_of(stack, goal_id))["key_results"]) == 2
