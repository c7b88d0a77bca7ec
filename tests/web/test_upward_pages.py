"""Upward feedback in the pages over the real feedback service (and NATS): who reaches which page,
the service's refusals as readable messages, a manager's results without counts, HR's list of
pulses and its cancellation, the inbox leading to open pulses, and the mail an opened pulse brings
(the real notifications component and SMTP server)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.feedback.models import Person as FeedbackPerson
from tests.conftest import TokenFactory
from tests.notifications.conftest import Notifier, plain
from tests.support.waiting import wait_until
from tests.web.conftest import (
    StackFactory,
    clients_of,
    csrf_of,
    sign_in_as,
    web_client,
)
from web.api import Services
from web.pages import _open_pulses

pytestmark = pytest.mark.database

ALREADY = "You have answered this upward feedback already; answers are taken once."
CLOSED = "This upward feedback has closed; it takes no more answers."
NO_MANAGER = "You have no manager to give upward feedback to."
NOT_ASKED = "You are not asked to answer this upward feedback."
NO_SUCH = "There is no such upward feedback."
RATING = "Choose a rating from 1 to 5."
NONE_OPEN = "No upward feedback is open for you."
BELOW_K = "No results about you: fewer people answered than the 3 needed"
OTHERS_ONLY = "Each manager reads the results about themselves here"


async def answer(client: httpx.AsyncClient, pulse: str, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/upward")).text)
    return await client.post(f"/upward/{pulse}", data={"csrf_token": token, **fields})


async def sees_pulse(client: httpx.AsyncClient, pulse: str) -> None:
    async def listed() -> bool:
        return f'action="/upward/{pulse}"' in (await client.get("/upward")).text

    # The feedback service learns each person and their manager from the directory's events.
    await wait_until(listed, timeout=30, message="the pulse is listed")


async def open_pulse(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/upward")).text)
    return await client.post("/hr/upward", data={"csrf_token": token, **fields})


async def test_upward_pages_by_role_with_readable_refusals(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        await stack.add_person("Skip Level", "Exec")
        await stack.add_person("Mona Manager", "Eng", "Skip Level")
        for name in ("Emil Employee", "Erik Employee", "Eva Employee", "Dora Departing"):
            await stack.add_person(name, "Eng", "Mona Manager")
        await stack.add_person("Una Unrelated", "Sales")
        await stack.add_person("Hanna HR", "People")
        await stack.add_person("Helga Leaving", "People")
        await stack.add_person("Adam Admin", "Ops")
        clients = await clients_of(stack, auth)
        try:
            # Only HR and admins open a pulse; everyone else is refused the page and the post.
            for name, client in clients.items():
                may = name in ("Hanna HR", "Helga Leaving", "Adam Admin")
                assert (await client.get("/hr/upward")).status_code == (200 if may else 403), name
                undated = await open_pulse(client, title="Q3 pulse", closes_on="", min_raters="3")
                assert undated.status_code == (422 if may else 403), name
            undated = await open_pulse(clients["Hanna HR"], title="Q3 pulse", closes_on="", min_raters="3")
            assert 'id="error-closes_on"' in undated.text
            assert 'aria-describedby="error-closes_on"' in undated.text
            closes_on = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
            opened = await open_pulse(clients["Hanna HR"], title="Q3 pulse", closes_on=closes_on, min_raters="3")
            assert opened.status_code == 303, opened.text
            pulse = opened.headers["location"].split("created=")[1]

            # Dora is deactivated while signed in: the service no longer lists or takes her answer.
            dora = clients["Dora Departing"]
            await sees_pulse(dora, pulse)
            gone = await stack.services["reviews"].patch(
                f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
            )
            assert gone.status_code == 200, gone.text

            async def dora_unlisted() -> bool:
                return NONE_OPEN in (await dora.get("/upward")).text

            await wait_until(dora_unlisted, timeout=30, message="Dora's pulse gone")
            refused = await answer(dora, pulse, rating="5")
            assert refused.status_code == 403
            assert NOT_ASKED in refused.text

            # Emil: no rating, a rating off the scale, then his answer; a second one is refused.
            emil = clients["Emil Employee"]
            await sees_pulse(emil, pulse)
            page = (await emil.get("/upward")).text
            assert "Q3 pulse" in page
            assert "Open until" in page
            blank = await answer(emil, pulse, rating="", comment="kept")
            assert blank.status_code == 422
            assert RATING in blank.text
            assert f'aria-describedby="error-{pulse}"' in blank.text
            assert ">kept</textarea>" in blank.text
            off_scale = await answer(emil, pulse, rating="9")
            assert off_scale.status_code == 422
            assert RATING in off_scale.text
            done = await answer(emil, pulse, rating="4", comment="Clear priorities every week.")
            assert done.status_code == 303, done.text
            assert done.headers["location"] == "/upward?notice=answered"
            thanked = (await emil.get("/upward?notice=answered")).text
            assert "Thank you: your answer is recorded." in thanked
            assert "You have answered this one." in thanked
            again = await answer(emil, pulse, rating="1")
            assert again.status_code == 409
            assert ALREADY in again.text

            # Una has no manager: nothing listed, and an answer is refused in words.
            una = clients["Una Unrelated"]
            assert NONE_OPEN in (await una.get("/upward")).text
            lonely = await answer(una, pulse, rating="3")
            assert lonely.status_code == 409
            assert NO_MANAGER in lonely.text
            for missing in (str(uuid.uuid4()), "not-a-pulse"):
                unknown = await answer(emil, missing, rating="3")
                assert unknown.status_code == 404, missing
                assert NO_SUCH in unknown.text

            for name in ("Erik Employee", "Eva Employee", "Mona Manager"):
                await sees_pulse(clients[name], pulse)
                assert (await answer(clients[name], pulse, rating="2")).status_code == 303, name

            mona = clients["Mona Manager"]
            before = await mona.get(f"/upward/{pulse}/results")
            assert before.status_code == 200
            assert "Results are shown after it closes" in before.text

            # HR gives more time, then closes it early from the results page; nobody else may do either.
            hanna, results_page = clients["Hanna HR"], f"/upward/{pulse}/results"
            hr_view = (await hanna.get(results_page)).text
            assert f'action="/hr/upward/{pulse}/close"' in hr_view
            assert f'action="/hr/upward/{pulse}/close"' in (await clients["Adam Admin"].get(results_page)).text
            assert f'action="/hr/upward/{pulse}/close"' not in before.text
            token = csrf_of(hr_view)
            first_close = date.fromisoformat(closes_on)
            later = (first_close + timedelta(days=7)).isoformat()
            for name in ("Emil Employee", "Mona Manager", "Skip Level", "Una Unrelated"):
                own = csrf_of((await clients[name].get("/upward")).text)
                for what in ("close", "extend"):
                    refused = await clients[name].post(
                        f"/hr/upward/{pulse}/{what}", data={"csrf_token": own, "closes_on": later}
                    )
                    assert refused.status_code == 403, (name, what)
            assert (await hanna.post(f"/hr/upward/{pulse}/close", data={})).status_code == 403  # no CSRF token
            # Helga (HR) leaves while signed in: feedback refuses her once it learns of it.
            helga = clients["Helga Leaving"]
            helga_token = csrf_of((await helga.get(results_page)).text)
            directory = stack.services["reviews"]
            left = await directory.patch(
                f"/people/{stack.people['Helga Leaving']}", json={"active": False}, headers=stack.hr_headers
            )
            assert left.status_code == 200, left.text

            async def helga_refused() -> bool:
                return (await helga.get(results_page)).status_code == 403

            await wait_until(helga_refused, timeout=30, message="feedback refuses Helga")
            for what in ("close", "extend"):
                gone = await helga.post(
                    f"/hr/upward/{pulse}/{what}", data={"csrf_token": helga_token, "closes_on": later}
                )
                assert gone.status_code == 403, what
            undated = await hanna.post(f"/hr/upward/{pulse}/extend", data={"csrf_token": token, "closes_on": ""})
            assert undated.status_code == 422
            assert 'aria-describedby="error-closes_on"' in undated.text
            earlier = (first_close - timedelta(days=2)).isoformat()
            sooner = await hanna.post(f"/hr/upward/{pulse}/extend", data={"csrf_token": token, "closes_on": earlier})
            assert sooner.status_code == 422, sooner.text
            assert 'id="error-closes_on"' in sooner.text
            assert f'value="{earlier}"' in sooner.text
            extended = await hanna.post(f"/hr/upward/{pulse}/extend", data={"csrf_token": token, "closes_on": later})
            assert extended.status_code == 303, extended.text
            assert "now closes on" in (await hanna.get(extended.headers["location"])).text
            held = (await stack.services["feedback"].get(f"/upward-feedback/{pulse}", headers=stack.hr_headers)).json()
            assert datetime.fromisoformat(held["closes_at"]).date() == date.fromisoformat(later)
            closed = await hanna.post(f"/hr/upward/{pulse}/close", data={"csrf_token": token})
            assert closed.status_code == 303, closed.text
            assert "The upward feedback is closed" in (await hanna.get(closed.headers["location"])).text
            # Closed already: closing again changes nothing; more time is refused in words.
            twice = await hanna.post(f"/hr/upward/{pulse}/close", data={"csrf_token": token})
            assert twice.status_code == 303, twice.text
            reopened = await hanna.post(f"/hr/upward/{pulse}/extend", data={"csrf_token": token, "closes_on": later})
            assert reopened.status_code == 409, reopened.text
            assert 'id="error-close"' in reopened.text
            late = await answer(clients["Erik Employee"], pulse, rating="5")
            assert late.status_code == 409
            assert CLOSED in late.text

            # Mona reached k (three answers): her score and the comment, never a count or a name.
            mine = await mona.get(f"/upward/{pulse}/results")
            assert mine.status_code == 200
            assert "Score: 41.7 of 100" in mine.text
            assert "Clear priorities every week." in mine.text
            assert "Emil" not in mine.text
            assert ">3<" not in mine.text
            # /upward lists it for her (the mail is not the only way back); for nobody else.
            listed = (await mona.get("/upward")).text
            assert "Results about you" in listed
            assert f'href="/upward/{pulse}/results"' in listed
            for name in ("Erik Employee", "Skip Level", "Hanna HR"):
                assert "Results about you" not in (await clients[name].get("/upward")).text, name
            # Everyone else reads the page without Mona's result; Skip (one answer) is below k.
            for name, client in clients.items():
                if name in ("Mona Manager", "Dora Departing", "Helga Leaving"):
                    continue
                results = await client.get(f"/upward/{pulse}/results")
                assert results.status_code == 200, name
                assert "Clear priorities every week." not in results.text, name
                assert "Score: 41.7" not in results.text, name
                # Skip (a manager with one answer) is below k; the others manage nobody.
                assert (BELOW_K in results.text) == (name == "Skip Level"), name
                assert (OTHERS_ONLY in results.text) == (name != "Skip Level"), name
                assert ("By org unit" in results.text) == (name in ("Hanna HR", "Adam Admin")), name

            # Dora left: once feedback holds her as inactive (its status cache lasts seconds), nothing opens.
            async def dora_refused() -> bool:
                return (await clients["Dora Departing"].get(f"/upward/{pulse}/results")).status_code == 403

            await wait_until(dora_refused, timeout=30, message="Dora refused the results page")
            hr_view = (await clients["Hanna HR"].get(f"/upward/{pulse}/results")).text
            assert '<th scope="row">Eng</th><td>41.7</td><td>1</td>' in hr_view
            assert (await mona.get(f"/upward/{uuid.uuid4()}/results")).status_code == 404

            # Signed out: every page sends to the sign-in.
            anonymous = web_client(stack.app)
            for path in ("/upward", f"/upward/{pulse}/results", "/hr/upward"):
                assert (await anonymous.get(path)).status_code == 303, path
            await anonymous.aclose()
        finally:
            for client in clients.values():
                await client.aclose()


async def test_an_opened_pulse_and_released_results_mail_the_people_concerned(
    web_stack: StackFactory, notifier: Notifier, auth: TokenFactory
) -> None:
    async with web_stack("reviews", "feedback", notifications=notifier.app) as stack:
        await stack.add_person("Mona Manager", "Eng", timezone="Europe/Berlin")
        reports = [
            await stack.add_person(name, "Eng", "Mona Manager", timezone="Europe/Berlin")
            for name in ("Emil Employee", "Erik Employee", "Eva Employee")
        ]
        await stack.add_person("Hanna HR", "People", timezone="Europe/Berlin")
        feedback: FastAPI = stack.services["feedback"].app  # type: ignore[attr-defined]

        async def feedback_knows_the_reports() -> bool:
            # A pulse asks whom the feedback service's directory copy has with a manager at its opening.
            async with feedback.state.sessionmaker() as session:
                found = [await session.get(FeedbackPerson, uuid.UUID(report)) for report in reports]
            return all(person is not None and person.manager_id is not None for person in found)

        await wait_until(feedback_knows_the_reports, timeout=30, message="feedback knows the reports and Mona")
        hr = web_client(stack.app)
        try:
            await sign_in_as(hr, stack.people["Hanna HR"])
            closes_on = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
            opened = await open_pulse(hr, title="Q4 pulse", closes_on=closes_on, min_raters="3")
            assert opened.status_code == 303, opened.text
        finally:
            await hr.aclose()
        pulse = opened.headers["location"].split("created=")[1]
        # Queued for the digest after the one the clock stands before (the event crossed NATS).
        await notifier.queued(3)
        for report, rating in zip(reports, (5, 4, 4), strict=True):
            given = await stack.services["feedback"].post(
                f"/upward-feedback/{pulse}/answers",
                json={"rating": rating, "comment": "Secret words"},
                headers=auth(person_id=uuid.UUID(report)),
            )
            assert given.status_code == 201, given.text
        closed = await stack.services["feedback"].post(f"/upward-feedback/{pulse}/close", headers=stack.hr_headers)
        assert closed.status_code == 200, closed.text
        await notifier.queued(4)

        notifier.clock.advance_to(datetime(2027, 1, 16, tzinfo=UTC))
        mails = await notifier.mails(4, timeout=30)
        assert sorted(mail["To"] for mail in mails) == [
            "emil.employee@example.com",
            "erik.employee@example.com",
            "eva.employee@example.com",
            "mona.manager@example.com",
        ], "the reports are asked; Mona, who has no manager, is told of her results only"
        [asked] = notifier.inbox.to("emil.employee@example.com")
        text = plain(asked)
        assert "You may now give anonymous feedback on your manager, until" in text
        assert "17:00 (Europe/Berlin)" in text
        assert "/upward\r\n" in text
        [told] = notifier.inbox.to("mona.manager@example.com")
        assert "The results of an upward feedback about you are ready." in plain(told)
        assert f"/upward/{pulse}/results" in plain(told)
        for mail in mails:
            # Nothing but ids and times crossed the bus: no title, comment or rating reaches a mail.
            assert "Q4 pulse" not in plain(mail)
            assert "Secret words" not in plain(mail)
            assert "4.3" not in plain(mail)


CANCEL_LINK = "Cancel it without results…"
CONFIRM = "Yes, cancel it without results"
WAS_CANCELLED = "This upward feedback was cancelled."
HAS_CLOSED = "This upward feedback has closed; its results are out."
INBOX_HEADING = "Upward feedback you may answer"


async def test_hr_lists_and_cancels_pulses_and_the_inbox_leads_to_open_ones(
    web_stack: StackFactory, auth: TokenFactory
) -> None:
    async with web_stack("reviews", "feedback") as stack:
        await stack.add_person("Skip Level", "Exec")
        await stack.add_person("Mona Manager", "Eng", "Skip Level")
        for name in ("Emil Employee", "Dora Departing"):
            await stack.add_person(name, "Eng", "Mona Manager")
        await stack.add_person("Una Unrelated", "Sales")
        await stack.add_person("Hanna HR", "People")
        await stack.add_person("Helga Leaving", "People")
        await stack.add_person("Adam Admin", "Ops")
        clients = await clients_of(stack, auth)
        admin = clients["Adam Admin"]
        feedback = stack.services["feedback"]
        hanna, emil = clients["Hanna HR"], clients["Emil Employee"]
        try:
            closes_on = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
            opened = await open_pulse(hanna, title="Spring pulse", closes_on=closes_on, min_raters="3")
            assert opened.status_code == 303, opened.text
            spring = opened.headers["location"].split("created=")[1]
            closes_at = (datetime.now(UTC) + timedelta(days=9)).isoformat()
            created = await feedback.post(
                "/upward-feedback", json={"title": "Autumn pulse", "closes_at": closes_at}, headers=stack.hr_headers
            )
            assert created.status_code == 201, created.text
            autumn = created.json()["id"]

            # The inbox names the pulses Emil may still answer and leads to each; answered, it is gone.
            await sees_pulse(emil, autumn)
            inbox = (await emil.get("/inbox")).text
            assert INBOX_HEADING in inbox
            for pulse in (spring, autumn):
                assert f'href="/upward#pulse-{pulse}"' in inbox
                assert f'id="pulse-{pulse}"' in (await emil.get("/upward")).text
            assert (await answer(emil, spring, rating="4")).status_code == 303
            inbox = (await emil.get("/inbox")).text
            assert f'href="/upward#pulse-{spring}"' not in inbox
            assert f'href="/upward#pulse-{autumn}"' in inbox
            # Not on the list of reviews to write, and not for people without a manager to rate.
            assert INBOX_HEADING not in (await emil.get("/inbox?kind=manager_review")).text
            for name in ("Una Unrelated", "Hanna HR", "Skip Level"):
                assert INBOX_HEADING not in (await clients[name].get("/inbox")).text, name

            # Only HR and admins reach the list, the confirmation page and the cancel post.
            results = f"/upward/{autumn}/results"
            for name, client in clients.items():
                may = name in ("Hanna HR", "Helga Leaving", "Adam Admin")
                listing = await client.get("/hr/upward")
                assert listing.status_code == (200 if may else 403), name
                assert (await client.get(f"/hr/upward/{autumn}/cancel")).status_code == (200 if may else 403), name
                page = await client.get(results)
                assert page.status_code == 200, name
                assert (f'href="/hr/upward/{autumn}/cancel"' in page.text) == may, name
                if not may:
                    own = csrf_of((await client.get("/upward")).text)
                    refused = await client.post(f"/hr/upward/{autumn}/cancel", data={"csrf_token": own})
                    assert refused.status_code == 403, name
            listed = (await hanna.get("/hr/upward")).text
            assert "Upward feedback (HR)" in listed
            assert listed.index("Autumn pulse") < listed.index("Spring pulse"), "newest first"
            assert f'href="/upward/{spring}/results"' in listed
            assert 'href="/hr/upward" aria-current="page"' in listed
            assert 'href="/hr/upward"' not in (await emil.get("/inbox")).text, "no HR link for an employee"

            # Confirmation first; a post without the CSRF token changes nothing.
            confirm = await hanna.get(f"/hr/upward/{autumn}/cancel")
            assert CONFIRM in confirm.text
            assert f'action="/hr/upward/{autumn}/cancel"' in confirm.text
            assert (await hanna.post(f"/hr/upward/{autumn}/cancel", data={})).status_code == 403
            held = await feedback.get(f"/upward-feedback/{autumn}", headers=stack.hr_headers)
            assert held.json()["status"] == "open"
            cancelled = await hanna.post(f"/hr/upward/{autumn}/cancel", data={"csrf_token": csrf_of(confirm.text)})
            assert cancelled.status_code == 303, cancelled.text
            assert cancelled.headers["location"] == f"/upward/{autumn}/results?notice=cancelled"
            shown = (await hanna.get(cancelled.headers["location"])).text
            assert "The upward feedback is cancelled" in shown
            assert CANCEL_LINK not in shown
            held = await feedback.get(f"/upward-feedback/{autumn}", headers=stack.hr_headers)
            assert held.json()["status"] == "cancelled"
            # Gone from Emil's inbox; an answer now is refused in words.
            assert INBOX_HEADING not in (await emil.get("/inbox")).text
            late = await answer(emil, autumn, rating="3")
            assert late.status_code == 409
            assert CLOSED in late.text
            # Cancelled already (another HR person's tab), or closed with its results out: 409 in words.
            token = csrf_of((await admin.get("/hr/upward")).text)
            again = await admin.post(f"/hr/upward/{autumn}/cancel", data={"csrf_token": token})
            assert again.status_code == 409, again.text
            assert WAS_CANCELLED in again.text
            assert 'id="error-close"' in again.text
            assert CONFIRM not in (await hanna.get(f"/hr/upward/{autumn}/cancel")).text
            closed = await feedback.post(f"/upward-feedback/{spring}/close", headers=stack.hr_headers)
            assert closed.status_code == 200, closed.text
            too_late = await admin.post(f"/hr/upward/{spring}/cancel", data={"csrf_token": token})
            assert too_late.status_code == 409, too_late.text
            assert HAS_CLOSED in too_late.text
            for missing in (str(uuid.uuid4()), "not-a-pulse"):
                assert (await hanna.get(f"/hr/upward/{missing}/cancel")).status_code == 404, missing
                unknown = await hanna.post(f"/hr/upward/{missing}/cancel", data={"csrf_token": csrf_of(confirm.text)})
                assert unknown.status_code == 404, missing

            # The status filter, and pages of 20, newest first.
            for number in range(20):
                body = {"title": f"Pulse {number:02d}", "closes_at": closes_at}
                made = await feedback.post("/upward-feedback", json=body, headers=stack.hr_headers)
                assert made.status_code == 201, made.text
            only_cancelled = (await hanna.get("/hr/upward?status=cancelled")).text
            assert "Autumn pulse" in only_cancelled
            assert "Spring pulse" not in only_cancelled
            assert "Pulse 19" not in only_cancelled
            only_closed = (await admin.get("/hr/upward?status=closed")).text
            assert ("Spring pulse" in only_closed, "Autumn pulse" in only_closed) == (True, False)
            first = (await hanna.get("/hr/upward")).text
            assert "Pulse 19" in first
            assert "Autumn pulse" not in first
            assert 'href="/hr/upward?&amp;offset=20"' in first or 'href="/hr/upward?&offset=20"' in first
            second = (await hanna.get("/hr/upward?offset=20")).text
            assert ("Autumn pulse" in second, "Spring pulse" in second, "Pulse 19" in second) == (True, True, False)
            assert "No upward feedback with this status." in (await hanna.get("/hr/upward?status=open&offset=40")).text

            # Helga (HR) leaves while signed in: feedback refuses her the list and the cancel.
            helga = clients["Helga Leaving"]
            helga_token = csrf_of((await helga.get("/hr/upward")).text)
            left = await stack.services["reviews"].patch(
                f"/people/{stack.people['Helga Leaving']}", json={"active": False}, headers=stack.hr_headers
            )
            assert left.status_code == 200, left.text

            async def helga_refused() -> bool:
                return (await helga.get("/hr/upward")).status_code == 403

            await wait_until(helga_refused, timeout=30, message="feedback refuses Helga the list")
            open_one = (await feedback.get("/upward-feedback?status=open&limit=1", headers=stack.hr_headers)).json()
            target = open_one["items"][0]["id"]
            gone = await helga.post(f"/hr/upward/{target}/cancel", data={"csrf_token": helga_token})
            assert gone.status_code == 403
            still = await feedback.get(f"/upward-feedback/{target}", headers=stack.hr_headers)
            assert still.json()["status"] == "open"
            # Dora (an employee) is deactivated while signed in: no HR page opens for her either.
            dora = clients["Dora Departing"]
            await stack.services["reviews"].patch(
                f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
            )
            assert (await dora.get("/hr/upward")).status_code == 403

            # Signed out: the sign-in.
            anonymous = web_client(stack.app)
            for path in ("/hr/upward", f"/hr/upward/{autumn}/cancel"):
                assert (await anonymous.get(path)).status_code == 303, path
            await anonymous.aclose()
        finally:
            for client in clients.values():
                await client.aclose()


async def test_the_inbox_stands_when_the_feedback_service_cannot_name_open_pulses() -> None:
    answered = {"id": str(uuid.uuid4()), "answered": True}
    waiting = {"id": str(uuid.uuid4()), "answered": False}

    def answering(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer down":
            raise httpx.ConnectError("refused", request=request)
        if request.headers["Authorization"] == "Bearer failing":
            return httpx.Response(503, json={"title": "Service Unavailable", "status": 503, "detail": "no key"})
        return httpx.Response(200, json=[answered, waiting])

    services = Services({"feedback": "http://feedback"}, {"feedback": httpx.MockTransport(answering)})
    try:
        assert await _open_pulses(services.as_person("fine")) == [waiting]
        assert await _open_pulses(services.as_person("failing")) is None
        assert await _open_pulses(services.as_person("down")) is None
    finally:
        await services.aclose()
