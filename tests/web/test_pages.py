"""Which signed-in people reach which pages, and errors shown next to their fields."""

from __future__ import annotations

import pytest

from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of, sign_in_as

pytestmark = pytest.mark.database

# page -> the roles that may open it (employee: everyone signed in)
PAGES = {
    "/inbox": {"employee"},
    "/goals": {"employee"},
    "/praise": {"employee"},
    "/feedback": {"employee"},
    "/feedback?view=shared": {"employee"},
    "/feedback/requests": {"employee"},
    "/checkins": {"employee"},
    "/team": {"manager", "hr"},
    "/hr/cycles": {"hr"},
    "/hr/cycles/new": {"hr"},
}


async def test_pages_by_role(web_stack: StackFactory) -> None:
    async with web_stack("reviews", "goals", "feedback") as stack:
        await stack.add_person("Skip Level", "Exec")
        await stack.add_person("Mona Manager", "Eng", "Skip Level")
        await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        await stack.add_person("Una Unrelated", "Sales")
        await stack.add_person("Hanna HR", "People")
        allowed = {
            "Emil Employee": {"employee"},
            "Una Unrelated": {"employee"},
            "Mona Manager": {"employee", "manager"},
            "Skip Level": {"employee", "manager"},
            "Hanna HR": {"employee", "hr"},
        }
        for name, roles in allowed.items():
            await sign_in_as(stack.web, stack.people[name])
            for path, needs in PAGES.items():
                response = await stack.web.get(path)
                expected = 200 if needs & roles else 403
                assert response.status_code == expected, (name, path, response.text[:300])
            # The cycle address mails link to leads HR to the cycle page; others are refused.
            link = await stack.web.get("/cycles/0e7d9c4b-2f1a-4b3c-8d5e-6f7a8b9c0d1e")
            assert link.status_code == (303 if "hr" in roles else 403), name
            if "hr" in roles:
                assert link.headers["location"] == "/hr/cycles/0e7d9c4b-2f1a-4b3c-8d5e-6f7a8b9c0d1e"
            # Writes are gated like the pages: a cycle form post by a non-HR person is refused.
            token = csrf_of((await stack.web.get("/inbox")).text)
            created = await stack.web.post("/hr/cycles", data={"csrf_token": token, "name": "x"})
            assert created.status_code == (422 if "hr" in roles else 403), name
        # The skip-level manager's team page lists her direct report, not the report's report.
        await sign_in_as(stack.web, stack.people["Skip Level"])
        team = (await stack.web.get("/team")).text
        assert "Mona Manager" in team
        assert "Emil Employee" not in team


async def test_a_deactivated_person_cannot_sign_in(web_stack: StackFactory) -> None:
    async with web_stack() as stack:
        person = await stack.add_person("Gone Person", "Eng")
        await stack.add_person("Still Here", "Eng")
        response = await stack.services["reviews"].patch(
            f"/people/{person}", json={"active": False}, headers=stack.hr_headers
        )
        assert response.status_code == 200, response.text
        page = await stack.web.get("/signin")
        assert "Gone Person" not in page.text
        assert "Still Here" in page.text
        refused = await stack.web.post(
            "/signin/development", data={"csrf_token": csrf_of(page.text), "person_id": person}
        )
        assert refused.headers["location"] == "/signin"
        assert (await stack.web.get("/inbox")).status_code == 303


async def test_errors_stand_next_to_their_fields(web_stack: StackFactory) -> None:
    async with web_stack("reviews", "goals", "feedback") as stack:
        hr = await stack.add_person("Hanna HR", "People")
        owner = await stack.add_person("Gita Goals", "Eng")

        async def known() -> bool:
            response = await stack.services["goals"].get(f"/people/{owner}", headers=stack.hr_headers)
            return response.status_code == 200

        await wait_until(known, timeout=30, message="goals knows Gita")
        goal = await stack.services["goals"].post(
            "/goals",
            json={"title": "Halve the build time of the monorepo", "owner_id": owner, "due_date": "2026-06-30"},
            headers=stack.hr_headers,
        )
        assert goal.status_code == 201, goal.text
        goal_id = goal.json()["id"]

        await sign_in_as(stack.web, owner)
        page = await stack.web.get("/goals")
        assert "Halve the build time" in page.text
        bad = await stack.web.post(
            f"/goals/{goal_id}/check-ins", data={"csrf_token": csrf_of(page.text), "value": "lots"}
        )
        assert bad.status_code == 422
        assert f'id="error-{goal_id}"' in bad.text
        assert f'aria-describedby="error-{goal_id}"' in bad.text
        good = await stack.web.post(
            f"/goals/{goal_id}/check-ins", data={"csrf_token": csrf_of(page.text), "value": "40"}
        )
        assert good.status_code == 303
        assert "40%" in (await stack.web.get("/goals")).text

        # A new goal: the SMART check and suggestions first, then saved; a bad weight is named.
        new = await stack.web.get("/goals/new")
        assert new.status_code == 200
        draft = {"csrf_token": csrf_of(new.text), "title": "Improve things", "period": "2026"}
        checked = await stack.web.post("/goals/new", data={**draft, "action": "check"})
        assert checked.status_code == 200
        assert "SMART check" in checked.text
        assert "<li>" in checked.text.split("SMART check")[1]  # "Improve things" misses something
        bad = await stack.web.post("/goals/new", data={**draft, "weight": "250", "action": "save"})
        assert bad.status_code == 422
        assert 'id="error-weight"' in bad.text
        saved = await stack.web.post("/goals/new", data={**draft, "weight": "20", "action": "save"})
        assert saved.status_code == 303
        mine = (await stack.web.get("/goals")).text
        assert "Improve things" in mine
        tree = await stack.web.get(f"/goals/{goal_id}/tree")
        assert tree.status_code == 200
        assert "Halve the build time" in tree.text

        # Praise without a message: the feedback service's 422, shown beside the message field.
        async def feedback_knows_hanna() -> bool:
            response = await stack.services["feedback"].get(f"/people/{hr}", headers=stack.hr_headers)
            return response.status_code == 200

        await wait_until(feedback_knows_hanna, timeout=30, message="feedback knows Hanna")
        wall = await stack.web.get("/praise")
        empty = await stack.web.post(
            "/praise", data={"csrf_token": csrf_of(wall.text), "receiver_ids": hr, "message": ""}
        )
        assert empty.status_code == 422
        assert 'id="error-message"' in empty.text
        given = await stack.web.post(
            "/praise", data={"csrf_token": csrf_of(wall.text), "receiver_ids": hr, "message": "Great onboarding!"}
        )
        assert given.status_code == 303
        assert "Great onboarding!" in (await stack.web.get("/praise")).text
        assert "Great onboarding!" not in (await stack.web.get("/praise", params={"mine": "1"})).text
        await sign_in_as(stack.web, hr)
        assert "Great onboarding!" in (await stack.web.get("/praise", params={"mine": "1"})).text

        # The cycle form: a missing name and a bad date, each named beside its field.
        await sign_in_as(stack.web, hr)
        form = await stack.web.get("/hr/cycles/new")
        assert form.status_code == 200
        sent = await stack.web.post(
            "/hr/cycles",
            data={
                "csrf_token": csrf_of(form.text),
                "name": "",
                "period_start": "2026-01-01",
                "period_end": "2026-12-31",
                "template_id": "00000000-0000-0000-0000-000000000000",
                "deadline_self_assessment": "not a date",
            },
        )
        assert sent.status_code == 422
        assert 'id="error-deadline_self_assessment"' in sent.text
        field = 'id="deadline_self_assessment" name="deadline_self_assessment" type="date" value="not a date"'
        assert f'{field} aria-invalid="true"' in sent.text
