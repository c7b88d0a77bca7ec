"""Skipping, moving and ending 1:1s in the pages over the real feedback service (and NATS): only the
series' two people may, a deactivated person is refused, a moved time is read in the mover's own
time zone, and the service's refusals stand beside the form they concern."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, clients_of, csrf_of
from web.checkin_pages import NO_SERIES, NO_SUCH, NO_TIME, OUT_OF_ORDER, local_start

pytestmark = pytest.mark.database

OCCURRENCE = re.compile(r'action="/checkins/[0-9a-f-]+/occurrences/([0-9A-Z]+)/skip"')


async def post(client: httpx.AsyncClient, action: str, **data: str) -> httpx.Response:
    token = csrf_of((await client.get("/checkins")).text)
    return await client.post(action, data={"csrf_token": token, **data})


async def start_series(mona: httpx.AsyncClient, report: str) -> str:
    first = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT10:00")
    started: list[httpx.Response] = []

    async def start() -> bool:
        # The feedback service learns the reporting line from the directory's events.
        token = csrf_of((await mona.get("/checkins")).text)
        response = await mona.post(
            "/checkins",
            data={"csrf_token": token, "report_id": report, "rrule": "FREQ=WEEKLY;INTERVAL=2", "starts_at": first},
        )
        started.append(response)
        return response.status_code == 303

    await wait_until(start, timeout=30, message="the series starts")
    return started[-1].headers["location"].split("?")[0].rsplit("/", 1)[1]


async def cast(stack: Stack, auth: TokenFactory) -> dict[str, httpx.AsyncClient]:
    """Mona manages Emil and Dora; Mona's manager, a colleague elsewhere, HR and an admin look on."""
    await stack.add_person("Skip Level", "Exec", timezone="Europe/Berlin")
    await stack.add_person("Mona Manager", "Eng", "Skip Level", timezone="Europe/Berlin")
    await stack.add_person("Emil Employee", "Eng", "Mona Manager", timezone="America/New_York")
    await stack.add_person("Dora Departing", "Eng", "Mona Manager")
    await stack.add_person("Una Unrelated", "Sales")
    await stack.add_person("Hanna HR", "People")
    await stack.add_person("Adam Admin", "Ops")
    return await clients_of(stack, auth)


def test_a_typed_time_is_read_in_the_persons_zone() -> None:
    assert local_start("2027-01-05T09:00", "America/New_York") == "2027-01-05T09:00:00-05:00"
    assert local_start("2027-07-05T09:00", "Europe/Berlin") == "2027-07-05T09:00:00+02:00"
    assert local_start("2027-01-05T09:00", None) == "2027-01-05T09:00:00+00:00"
    assert local_start("", "Europe/Berlin") is None
    assert local_start("next tuesday", "Europe/Berlin") is None


async def test_skip_move_and_end_by_role(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await cast(stack, auth)
        emil = stack.people["Emil Employee"]
        mona, emil_web, dora = clients["Mona Manager"], clients["Emil Employee"], clients["Dora Departing"]
        try:
            series = await start_series(mona, emil)
            page = await mona.get(f"/checkins/{series}")
            assert page.status_code == 200, page.text
            assert "Coming meetings" in page.text
            assert "Times are in your time zone (Europe/Berlin)." in page.text
            first, second, third, *_ = OCCURRENCE.findall(page.text)
            base = f"/checkins/{series}/occurrences"
            tomorrow = (datetime.now(UTC) + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")

            # Everyone outside the pair gets the service's 404, for the pages and every action.
            for name in ("Skip Level", "Una Unrelated", "Hanna HR", "Adam Admin"):
                client = clients[name]
                assert (await client.get(f"/checkins/{series}/end")).status_code == 404, name
                assert (await post(client, f"{base}/{first}/skip")).status_code == 404, name
                assert (await post(client, f"{base}/{first}/move", starts_at=tomorrow)).status_code == 404, name
                assert (await post(client, f"/checkins/{series}/end")).status_code == 404, name
            # A series id that is none, or not even an id, is the same 404 for a participant.
            assert (await post(mona, f"/checkins/{uuid.uuid4()}/occurrences/{first}/skip")).status_code == 404
            malformed = await post(mona, "/checkins/not-an-id/end")
            assert malformed.status_code == 404
            assert NO_SERIES in malformed.text
            assert (await mona.get("/checkins/not-an-id/end")).status_code == 404
            # No CSRF token: refused before the service is asked.
            assert (await mona.post(f"{base}/{first}/skip")).status_code == 403
            assert (await mona.post(f"/checkins/{series}/end", data={"csrf_token": "x"})).status_code == 403

            # Dora is deactivated while signed in: the service refuses her everything with a 403.
            token = csrf_of((await dora.get("/checkins")).text)
            gone = await stack.services["reviews"].patch(
                f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
            )
            assert gone.status_code == 200, gone.text

            async def refused() -> bool:
                return (await dora.post(f"{base}/{first}/skip", data={"csrf_token": token})).status_code == 403

            await wait_until(refused, timeout=30, message="the feedback service learns Dora left")
            assert (await dora.post(f"/checkins/{series}/end", data={"csrf_token": token})).status_code == 403
            assert (await dora.get(f"/checkins/{series}/end")).status_code == 403

            # Emil (the report) skips the first meeting; a second skip is the service's refusal beside it.
            skipped = await post(emil_web, f"{base}/{first}/skip")
            assert skipped.status_code == 303, skipped.text
            assert skipped.headers["location"] == f"/checkins/{series}?notice=skipped"
            shown = (await emil_web.get(skipped.headers["location"])).text
            assert "The meeting is skipped." in shown
            assert "(skipped)" in shown
            assert f'action="{base}/{first}/skip"' not in shown  # a skipped meeting offers no actions
            again = await post(mona, f"{base}/{first}/skip")
            assert again.status_code == 409, again.text
            assert f'id="error-occurrence-{first}"' in again.text
            assert "skipped" in again.text

            # Emil moves the second meeting to 09:00 his time (New York); the series' zone is Berlin.
            original = datetime.strptime(second, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            day = original.astimezone(ZoneInfo("America/New_York")).date() + timedelta(days=1)
            empty = await post(emil_web, f"{base}/{second}/move", starts_at="")
            assert empty.status_code == 422, empty.text
            assert f'<p class="error" id="error-starts_at-{second}">{NO_TIME}</p>' in empty.text
            assert f'aria-describedby="error-starts_at-{second}"' in empty.text
            beyond = await post(emil_web, f"{base}/{second}/move", starts_at=f"{day + timedelta(days=20)}T09:00")
            assert beyond.status_code == 422, beyond.text
            assert f'<p class="error" id="error-starts_at-{second}">{OUT_OF_ORDER}</p>' in beyond.text
            assert f'value="{day + timedelta(days=20)}T09:00"' in beyond.text  # the typed value stays
            nowhere = await post(emil_web, f"{base}/20200101T000000Z/move", starts_at=f"{day}T09:00")
            assert nowhere.status_code == 404, nowhere.text
            assert f'<p class="error" id="error-_form">{NO_SUCH}</p>' in nowhere.text
            moved = await post(emil_web, f"{base}/{second}/move", starts_at=f"{day}T09:00")
            assert moved.status_code == 303, moved.text
            assert moved.headers["location"] == f"/checkins/{series}?notice=moved"
            expected = datetime.fromisoformat(f"{day}T09:00").replace(tzinfo=ZoneInfo("America/New_York"))
            occurrences = await stack.services["feedback"].get(
                f"/checkins/series/{series}/occurrences",
                headers=auth(person_id=uuid.UUID(emil)),
            )
            by_id = {item["recurrence_id"]: item for item in occurrences.json()["items"]}
            assert by_id[second]["status"] == "moved"
            assert datetime.fromisoformat(by_id[second]["starts_at"]) == expected
            emil_view = (await emil_web.get(moved.headers["location"])).text
            assert "The meeting is moved." in emil_view
            assert f'value="{day}T09:00"' in emil_view  # shown in Emil's zone
            mona_view = (await mona.get(f"/checkins/{series}")).text
            assert f'value="{expected.astimezone(ZoneInfo("Europe/Berlin")):%Y-%m-%dT%H:%M}"' in mona_view

            # Mona ends the series through the confirmation page.
            assert f'href="/checkins/{series}/end"' in mona_view
            confirm = await mona.get(f"/checkins/{series}/end")
            assert confirm.status_code == 200, confirm.text
            assert "Yes, end the series" in confirm.text
            assert (await emil_web.get(f"/checkins/{series}/end")).status_code == 200
            ended = await mona.post(f"/checkins/{series}/end", data={"csrf_token": csrf_of(confirm.text)})
            assert ended.status_code == 303, ended.text
            assert ended.headers["location"] == "/checkins?notice=ended"
            listing = (await mona.get(ended.headers["location"])).text
            assert "The 1:1 series has ended." in listing
            assert f'href="/checkins/{series}"' not in listing
            after = (await emil_web.get(f"/checkins/{series}")).text
            assert "This series has ended." in after
            assert "/skip" not in after
            assert f'href="/checkins/{series}/end"' not in after
            twice = await post(emil_web, f"/checkins/{series}/end")
            assert twice.status_code == 409, twice.text
            assert 'id="error-_form"' in twice.text
            late = await post(emil_web, f"{base}/{third}/skip")
            assert late.status_code == 409, late.text
            assert 'id="error-_form"' in late.text  # its meeting has no form any more
            assert NO_SUCH not in late.text
        finally:
            for client in clients.values():
                await client.aclose()


async def test_an_action_item_handed_on_by_role(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await cast(stack, auth)
        mona_id, emil_id = stack.people["Mona Manager"], stack.people["Emil Employee"]
        mona, emil = clients["Mona Manager"], clients["Emil Employee"]
        series = await start_series(mona, emil_id)
        page = (await mona.get(f"/checkins/{series}")).text
        recurrence = re.search(r'name="recurrence_id" value="([0-9A-Z]+)"', page)
        assert recurrence is not None
        added = await post(
            mona, f"/checkins/{series}/actions", recurrence_id=recurrence[1], title="Book the offsite", owner_id=emil_id
        )
        assert added.status_code == 303, added.text
        [item] = (
            await stack.services["feedback"].get(
                f"/checkins/series/{series}/action-items", headers=auth(person_id=uuid.UUID(mona_id))
            )
        ).json()["items"]
        shown = (await emil.get(f"/checkins/{series}")).text
        assert "Give to Mona Manager" in shown
        assert "Give to Emil Employee" not in shown  # it is his already

        # Outside the pair: the service's 404, and the owner stays.
        for name in ("Skip Level", "Una Unrelated", "Hanna HR", "Adam Admin"):
            refused = await post(clients[name], f"/checkins/{series}/owner", item_id=item["id"], owner_id=mona_id)
            assert refused.status_code == 404, name
        # Someone who is neither of the two, typed in by hand: the service's refusal, on the page.
        stranger = await post(
            emil, f"/checkins/{series}/owner", item_id=item["id"], owner_id=stack.people["Una Unrelated"]
        )
        assert stranger.status_code == 422, stranger.text
        assert "the owner is the manager or the report of the series" in stranger.text

        handed = await post(emil, f"/checkins/{series}/owner", item_id=item["id"], owner_id=mona_id)
        assert handed.status_code == 303, handed.text
        assert handed.headers["location"] == f"/checkins/{series}?notice=owner"
        after = (await mona.get(handed.headers["location"])).text
        assert "The action item has a new owner." in after
        assert "Book the offsite — Mona Manager" in after
        assert "Give to Emil Employee" in after
        held = await stack.services["feedback"].get(
            f"/checkins/series/{series}/action-items", headers=auth(person_id=uuid.UUID(emil_id))
        )
        assert [entry["owner_id"] for entry in held.json()["items"]] == [mona_id]
