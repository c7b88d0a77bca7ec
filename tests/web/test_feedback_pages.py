"""Written feedback and feedback requests in the pages, over the real feedback service (and NATS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of, sign_in_as

pytestmark = pytest.mark.database


async def post_form(web: httpx.AsyncClient, page: str, action: str, data: dict[str, object]) -> httpx.Response:
    token = csrf_of((await web.get(page)).text)
    return await web.post(action, data={"csrf_token": token, **data})


async def test_written_feedback_and_requests(web_stack: StackFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        mona = await stack.add_person("Mona Manager", "Eng")
        emil = await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        una = await stack.add_person("Una Unrelated", "Sales")
        web = stack.web

        # Una writes to Emil: without a text the service's 422 stands beside the field.
        await sign_in_as(web, una)
        empty = await post_form(web, "/feedback", "/feedback", {"receiver_ids": emil, "text": ""})
        assert empty.status_code == 422, empty.text
        assert 'id="error-text"' in empty.text
        assert 'aria-describedby="error-text"' in empty.text

        async def given() -> bool:
            # The feedback service learns about Emil from the directory's events.
            response = await post_form(
                web, "/feedback", "/feedback", {"receiver_ids": emil, "text": "Your design review saved us a week."}
            )
            return response.status_code == 303

        await wait_until(given, timeout=30, message="feedback given")
        assert "To Emil Employee" in (await web.get("/feedback?view=given")).text

        # Emil reads it and shares it with Mona; Mona sees it, Una never sees Emil's list.
        await sign_in_as(web, emil)
        received = await web.get("/feedback")
        assert "From Una Unrelated" in received.text
        assert "Your design review saved us a week." in received.text
        item_id = received.text.split('action="/feedback/')[1].split("/share")[0]
        shared = await post_form(web, "/feedback", f"/feedback/{item_id}/share", {})
        assert shared.headers["location"] == "/feedback?notice=shared"
        assert "Stop sharing with my manager" in (await web.get("/feedback")).text
        await sign_in_as(web, mona)
        assert "Your design review saved us a week." in (await web.get("/feedback?view=shared")).text
        assert "Your design review saved us a week." not in (await web.get("/feedback")).text
        await sign_in_as(web, emil)
        unshared = await post_form(web, "/feedback", f"/feedback/{item_id}/share", {"unshare": "1"})
        assert unshared.headers["location"] == "/feedback?notice=unshared"
        await sign_in_as(web, mona)
        assert "Your design review saved us a week." not in (await web.get("/feedback?view=shared")).text
        # Sharing someone else's feedback is refused (the service's 403) on the page.
        await sign_in_as(web, una)
        foreign = await post_form(web, "/feedback", f"/feedback/{item_id}/share", {})
        assert foreign.status_code == 403

        # Emil asks Una and Mona; a missing date stands beside its field.
        await sign_in_as(web, emil)
        due = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
        undated = await post_form(
            web, "/feedback/requests", "/feedback/requests", {"recipient_ids": [una, mona], "due_on": ""}
        )
        assert undated.status_code == 422, undated.text
        assert 'id="error-due_on"' in undated.text
        asked = await post_form(
            web,
            "/feedback/requests",
            "/feedback/requests",
            {"recipient_ids": [una, mona], "due_on": due, "question": "How did the launch go for you?"},
        )
        assert asked.status_code == 303, asked.text

        # Una answers (an empty answer first: refused beside it, the value she chose kept), Mona declines.
        value = await stack.services["feedback"].post(
            "/company-values", json={"name": "Ownership"}, headers=stack.hr_headers
        )
        assert value.status_code == 201, value.text
        ownership = value.json()["id"]
        await sign_in_as(web, una)
        inbox = await web.get("/feedback/requests")
        assert f'<option value="{ownership}">Ownership</option>' in inbox.text
        assert "Emil Employee asks for your feedback" in inbox.text
        assert "How did the launch go for you?" in inbox.text
        request_id = inbox.text.split('action="/feedback/requests/')[1].split("/answer")[0]
        blank = await post_form(
            web,
            "/feedback/requests",
            f"/feedback/requests/{request_id}/answer",
            {"action": "answer", "text": "", "company_value_id": ownership},
        )
        assert blank.status_code == 422, blank.text
        assert f'id="error-{request_id}"' in blank.text
        assert f'<option value="{ownership}" selected>Ownership</option>' in blank.text
        answered = await post_form(
            web,
            "/feedback/requests",
            f"/feedback/requests/{request_id}/answer",
            {"action": "answer", "text": "Smooth, thanks to your runbook.", "company_value_id": ownership},
        )
        assert answered.headers["location"] == "/feedback/requests?notice=answered"
        assert "Nobody waits for your feedback." in (await web.get("/feedback/requests")).text
        await sign_in_as(web, mona)
        declined = await post_form(
            web, "/feedback/requests", f"/feedback/requests/{request_id}/answer", {"action": "decline"}
        )
        assert declined.headers["location"] == "/feedback/requests?notice=declined"

        await sign_in_as(web, emil)
        mine = (await web.get("/feedback/requests")).text
        assert "Una Unrelated: answered" in mine
        assert "Mona Manager: declined" in mine
        answers = (await web.get("/feedback")).text
        assert "Smooth, thanks to your runbook." in answers
        assert "Company value: Ownership" in answers
