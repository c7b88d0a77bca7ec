"""Written feedback about a goal or showing a company value, in the pages (web over the real reviews,
goals and feedback services, and NATS): a goal's page leads its readers (not its owner) to feedback
about it, addressed to the owner; the form offers the current company values; the lists say what
each feedback is about as far as the reader may see the goal."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, client_of, csrf_of

pytestmark = pytest.mark.database

TEXT = "Your migration plan for the build made the goal look easy."


async def give(client: httpx.AsyncClient, page: str, **fields: str | list[str]) -> httpx.Response:
    token = csrf_of((await client.get(page)).text)
    return await client.post("/feedback", data={"csrf_token": token, **fields})


async def goal_for(stack: Stack, owner: str, title: str, visibility: str) -> str:
    body = {"title": title, "owner_id": owner, "period": "2026-H2", "visibility": visibility}
    created = await stack.services["goals"].post("/goals", json=body, headers=stack.hr_headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_feedback_about_a_goal_and_a_company_value(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "goals", "feedback") as stack:
        await stack.add_person("Mona Manager", "Eng")
        emil = await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        una = await stack.add_person("Una Unrelated", "Sales")
        goals, feedback, hr = stack.services["goals"], stack.services["feedback"], stack.hr_headers

        async def everyone_known() -> bool:
            for person in (emil, una):
                for service in (goals, feedback):
                    if (await service.get(f"/people/{person}", headers=hr)).status_code != 200:
                        return False
            return True

        await wait_until(everyone_known, timeout=30, message="goals and feedback know the people")
        public = await goal_for(stack, emil, "Halve the build time", "public")
        private = await goal_for(stack, emil, "Lead the platform guild", "private")
        ownership = (await feedback.post("/company-values", json={"name": "Ownership"}, headers=hr)).json()["id"]
        old = (await feedback.post("/company-values", json={"name": "Hustle"}, headers=hr)).json()["id"]
        assert (await feedback.patch(f"/company-values/{old}", json={"archived": True}, headers=hr)).status_code == 200
        una_web, emil_web = await client_of(stack, "Una Unrelated"), await client_of(stack, "Emil Employee")
        mona_web = await client_of(stack, "Mona Manager")

        # The goal's page leads a reader to feedback about it; its owner is not offered feedback to himself.
        about = f'href="/feedback?about_goal={public}"'
        assert about in (await una_web.get(f"/goals/{public}/edit")).text
        assert about not in (await emil_web.get(f"/goals/{public}/edit")).text
        form = await una_web.get("/feedback", params={"about_goal": public})
        assert "About the goal Halve the build time." in form.text
        assert f'<input type="hidden" name="goal_id" value="{public}">' in form.text
        assert f'<option value="{emil}" selected>' in form.text  # addressed to the goal's owner
        assert f'<option value="{ownership}"' in form.text
        assert f'<option value="{old}"' not in form.text  # archived values are not offered
        # A goal the giver may not read, or no goal at all, is not linked.
        for unseen in (private, str(uuid.uuid4()), "not-a-goal"):
            shown = await una_web.get("/feedback", params={"about_goal": unseen})
            assert shown.status_code == 200, unseen
            assert 'name="goal_id"' not in shown.text
            assert "Lead the platform guild" not in shown.text

        # A value that is not one: feedback's 422 beside the field, the goal and the text kept.
        page = f"/feedback?about_goal={public}"
        wrong = await give(una_web, page, receiver_ids=emil, text=TEXT, goal_id=public, company_value_id=old)
        assert wrong.status_code == 422, wrong.text
        assert 'id="error-company_value_id"' in wrong.text
        assert f'<input type="hidden" name="goal_id" value="{public}">' in wrong.text
        assert TEXT in wrong.text
        sent = await give(una_web, page, receiver_ids=emil, text=TEXT, goal_id=public, company_value_id=ownership)
        assert sent.status_code == 303, sent.text

        # Receiver and giver each read what it is about.
        received = (await emil_web.get("/feedback")).text
        assert TEXT in received
        assert "About the goal Halve the build time." in received
        assert "Company value: Ownership" in received
        assert "About the goal Halve the build time." in (await una_web.get("/feedback?view=given")).text
        # The manager gives feedback about the private goal (he may read it); Emil reads its title.
        by_mona = await give(
            mona_web, f"/feedback?about_goal={private}", receiver_ids=emil, text="Good guild.", goal_id=private
        )
        assert by_mona.status_code == 303, by_mona.text
        assert "About the goal Lead the platform guild." in (await emil_web.get("/feedback")).text
        # Una's goal turns private: she still reads her feedback, but no longer the goal's title.
        as_emil = auth(Role.employee, person_id=uuid.UUID(emil))
        hidden = await goals.patch(f"/goals/{public}", json={"visibility": "private"}, headers=as_emil)
        assert hidden.status_code == 200, hidden.text
        given = (await una_web.get("/feedback?view=given")).text
        assert TEXT in given
        assert "About a goal you cannot see." in given
        assert "Halve the build time" not in given
        assert "About the goal Halve the build time." in (await emil_web.get("/feedback")).text


async def test_asking_for_feedback_about_my_goal(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "goals", "feedback") as stack:
        await stack.add_person("Mona Manager", "Eng")
        emil = await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        una = await stack.add_person("Una Unrelated", "Sales")
        mona = stack.people["Mona Manager"]
        goals, feedback, hr = stack.services["goals"], stack.services["feedback"], stack.hr_headers

        async def everyone_known() -> bool:
            for person in (emil, una, mona):
                for service in (goals, feedback):
                    if (await service.get(f"/people/{person}", headers=hr)).status_code != 200:
                        return False
            return True

        await wait_until(everyone_known, timeout=30, message="goals and feedback know the people")
        public = await goal_for(stack, emil, "Halve the build time", "public")
        private = await goal_for(stack, emil, "Lead the platform guild", "private")
        unas = await goal_for(stack, una, "Close the Nordics deal", "public")
        emil_web, una_web = await client_of(stack, "Emil Employee"), await client_of(stack, "Una Unrelated")
        mona_web = await client_of(stack, "Mona Manager")

        # The owner's goal page leads to asking about it; a reader's to giving feedback.
        ask_link = f'href="/feedback/requests?about_goal={private}"'
        assert ask_link in (await emil_web.get(f"/goals/{private}/edit")).text
        assert "/feedback/requests?about_goal=" not in (await una_web.get(f"/goals/{public}/edit")).text
        form = await emil_web.get("/feedback/requests", params={"about_goal": private})
        assert "About the goal Lead the platform guild." in form.text
        assert f'<input type="hidden" name="goal_id" value="{private}">' in form.text
        # Someone else's goal is not offered to ask about, readable or not.
        assert 'name="goal_id"' not in (await una_web.get("/feedback/requests", params={"about_goal": public})).text
        for other in (unas, str(uuid.uuid4()), "not-a-goal"):
            assert 'name="goal_id"' not in (await emil_web.get("/feedback/requests", params={"about_goal": other})).text
        # A posted goal that is not mine: refused beside the form, nothing sent.
        token = csrf_of(form.text)
        due = "2031-01-15"
        forged = await una_web.post(
            "/feedback/requests",
            data={
                "csrf_token": csrf_of((await una_web.get("/feedback/requests")).text),
                "recipient_ids": mona,
                "due_on": due,
                "goal_id": public,
            },
        )
        assert forged.status_code == 422
        assert "Ask about one of your own goals." in forged.text
        asked = await emil_web.post(
            "/feedback/requests",
            data={"csrf_token": token, "recipient_ids": [mona, una], "due_on": due, "goal_id": private},
        )
        assert asked.status_code == 303, asked.text
        mine = (await emil_web.get("/feedback/requests")).text
        assert "About the goal Lead the platform guild." in mine  # the private goal is his own

        # Mona (his manager) reads his private goal; Una may not: she is told only that it is a goal.
        assert "About the goal Lead the platform guild." in (await mona_web.get("/feedback/requests")).text
        unas_inbox = (await una_web.get("/feedback/requests")).text
        assert "About a goal you cannot see." in unas_inbox
        assert "Lead the platform guild" not in unas_inbox
        request_id = (
            await feedback.get("/feedback-requests", headers=auth(Role.employee, person_id=uuid.UUID(emil)))
        ).json()["items"][0]["id"]
        answer = await mona_web.post(
            f"/feedback/requests/{request_id}/answer",
            data={"csrf_token": csrf_of((await mona_web.get("/feedback/requests")).text), "text": TEXT},
        )
        assert answer.status_code == 303, answer.text
        received = (await emil_web.get("/feedback")).text
        assert "About the goal Lead the platform guild." in received
        for client in (emil_web, una_web, mona_web):
            await client.aclose()
