"""Rewording a talking point and reading earlier meetings' agendas in the pages, over the real reviews and
feedback services (and NATS): only the series' two people get anything (the skip-level, HR, an admin and
a colleague the service's 404, a person deactivated while signed in its 403), only a point's author
rewords it, and the service's refusals stand beside the point's form or above the page, what was typed
kept."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, deactivate_dora
from tests.web.test_checkin_actions import cast, post, start_series
from web import checkin_pages
from web.checkin_pages import NO_POINT, NO_SERIES, NO_SUCH, NO_WORDING, NOT_AUTHOR, earlier_window

pytestmark = pytest.mark.database

REWORD = re.compile(r'action="/checkins/[0-9a-f-]+/agenda/([0-9a-f-]+)/reword"')
MEETING = re.compile(r'<h2 id="meeting-([0-9A-Z]+)">')
BERLIN = ZoneInfo("Europe/Berlin")
OUTSIDERS = ("Skip Level", "Una Unrelated", "Hanna HR", "Adam Admin")


async def agenda_texts(stack: Stack, headers: dict[str, str], series: str, recurrence: str) -> dict[str, str]:
    found = await stack.services["feedback"].get(
        f"/checkins/series/{series}/occurrences/{recurrence}/agenda", headers=headers
    )
    assert found.status_code == 200, found.text
    return {item["id"]: item["text"] for item in found.json()["items"]}


async def test_rewording_a_talking_point_by_role(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await cast(stack, auth)
        mona, emil, dora = clients["Mona Manager"], clients["Emil Employee"], clients["Dora Departing"]
        mona_headers = auth(Role.manager, person_id=uuid.UUID(stack.people["Mona Manager"]))
        try:
            series = await start_series(mona, stack.people["Emil Employee"])
            page = (await mona.get(f"/checkins/{series}")).text
            recurrence = page.split('name="recurrence_id" value="')[1].split('"')[0]
            for client, text in ((mona, "Career goals"), (emil, "Team offsite")):
                added = await post(client, f"/checkins/{series}/agenda", recurrence_id=recurrence, text=text)
                assert added.status_code == 303, added.text

            # Each sees the form to reword their own point only.
            mona_view = (await mona.get(f"/checkins/{series}")).text
            (mine,) = REWORD.findall(mona_view)
            assert 'aria-label="Reword: Career goals"' in mona_view
            assert 'aria-label="Reword: Team offsite"' not in mona_view
            assert f'href="/checkins/{series}/meetings"' in mona_view
            (his,) = REWORD.findall((await emil.get(f"/checkins/{series}")).text)
            assert his != mine
            reword = f"/checkins/{series}/agenda/{mine}/reword"

            # Everyone outside the pair gets the service's 404; nothing changes.
            for name in OUTSIDERS:
                assert (await post(clients[name], reword, text="Hijacked")).status_code == 404, name
            # A series that is none, or not even an id: the same 404.
            malformed = await post(mona, f"/checkins/not-an-id/agenda/{mine}/reword", text="x")
            assert malformed.status_code == 404
            assert NO_SERIES in malformed.text
            assert (await post(mona, f"/checkins/{uuid.uuid4()}/agenda/{mine}/reword", text="x")).status_code == 404
            # No CSRF token, or a wrong one: refused before the service is asked.
            assert (await mona.post(reword, data={"text": "Forged"})).status_code == 403
            assert (await mona.post(reword, data={"csrf_token": "x", "text": "Forged"})).status_code == 403
            held = await agenda_texts(stack, mona_headers, series, recurrence)
            assert held == {mine: "Career goals", his: "Team offsite"}

            # Nothing typed, and more than the service takes: beside the point's form, opened, the text kept.
            empty = await post(mona, reword, text="   ")
            assert empty.status_code == 422, empty.text
            assert f'<p class="error" id="error-reword-{mine}">{NO_WORDING}</p>' in empty.text
            assert f'aria-describedby="error-reword-{mine}"' in empty.text
            assert f'<input id="reword-{mine}" name="text" value="   "' in empty.text
            assert "<details open>" in empty.text
            long = "x" * 1001
            too_long = await post(mona, reword, text=long)
            assert too_long.status_code == 422, too_long.text
            assert f'id="error-reword-{mine}"' in too_long.text
            assert f'value="{long}"' in too_long.text
            # Emil's point is his to reword: the service's 403 in words above the page.
            not_hers = await post(mona, f"/checkins/{series}/agenda/{his}/reword", text="Skip the offsite")
            assert not_hers.status_code == 403, not_hers.text
            assert f'<p class="error" id="error-_form">{NOT_AUTHOR}</p>' in not_hers.text
            # A point the series does not have, or not an id at all.
            for item in (str(uuid.uuid4()), "nope"):
                unknown = await post(mona, f"/checkins/{series}/agenda/{item}/reword", text="Anything")
                assert unknown.status_code == 404, unknown.text
                assert f'<p class="error" id="error-_form">{NO_POINT}</p>' in unknown.text
            assert await agenda_texts(stack, mona_headers, series, recurrence) == held

            # Accepted: the new wording is what the service holds, and both read it.
            done = await post(mona, reword, text="  Career goals for 2027 ")
            assert done.status_code == 303, done.text
            assert done.headers["location"] == f"/checkins/{series}?notice=reworded"
            shown = (await mona.get(done.headers["location"])).text
            assert "The talking point is reworded." in shown
            assert "Career goals for 2027 — Mona Manager" in shown
            assert "Career goals for 2027 — Mona Manager" in (await emil.get(f"/checkins/{series}")).text
            # The report rewords his own.
            assert (
                await post(emil, f"/checkins/{series}/agenda/{his}/reword", text="Team offsite in May")
            ).status_code == 303
            assert await agenda_texts(stack, mona_headers, series, recurrence) == {
                mine: "Career goals for 2027",
                his: "Team offsite in May",
            }

            # Dora is deactivated while signed in: the service's 403.
            token = await deactivate_dora(stack, dora, f"/checkins/{series}")
            gone = await dora.post(reword, data={"csrf_token": token, "text": "Gone"})
            assert gone.status_code == 403, gone.text

            # The series ends: a rewording is the service's 409, above the page (the agenda is gone from it).
            ended = await post(mona, f"/checkins/{series}/end")
            assert ended.status_code == 303, ended.text
            late = await post(emil, f"/checkins/{series}/agenda/{his}/reword", text="Too late")
            assert late.status_code == 409, late.text
            assert f'<p class="error" id="error-reword-{his}">This check-in series has ended.</p>' in late.text
            assert "/reword" not in late.text
        finally:
            for client in clients.values():
                await client.aclose()


def test_the_window_of_earlier_meetings() -> None:
    series = {"duration_minutes": 30, "first_start": "2024-03-05T09:00:00+00:00"}
    now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    latest = earlier_window(series, "Europe/Berlin", None, now)
    # From midnight a year back to the last meeting over: no more than the 366 days the service reads.
    assert latest.start == datetime(2025, 7, 2, tzinfo=BERLIN)
    assert latest.end == now - timedelta(minutes=30)
    assert (latest.first_day, latest.last_day) == (date(2025, 7, 2), date(2026, 7, 1))
    assert (latest.until, latest.older, latest.newer) == (None, date(2025, 7, 2), None)
    older = earlier_window(series, "Europe/Berlin", "2025-07-02", now)
    assert (older.start, older.end) == (datetime(2024, 7, 2, tzinfo=BERLIN), datetime(2025, 7, 2, tzinfo=BERLIN))
    assert older.end - older.start <= timedelta(days=366)
    assert (older.older, older.newer) == (date(2024, 7, 2), "")
    oldest = earlier_window(series, "Europe/Berlin", "2024-07-02", now)
    assert (oldest.older, oldest.newer) == (None, "2025-07-02")
    # A day that is none, too far back, or not yet past: the latest window.
    for until in ("soon", "0001-01-01", "2026-07-02", "2030-01-01"):
        assert earlier_window(series, "Europe/Berlin", until, now) == latest, until
    # Shortly after midnight the last meeting over may lie before it.
    early = datetime(2026, 7, 1, 22, 10, tzinfo=UTC)  # 00:10 in Berlin
    assert earlier_window(series, "Europe/Berlin", "2026-07-02", early).end == early - timedelta(minutes=30)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=BERLIN)


async def test_earlier_meetings_and_their_agendas_by_role(
    web_stack: StackFactory, auth: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await cast(stack, auth)
        mona, emil, dora = clients["Mona Manager"], clients["Emil Employee"], clients["Dora Departing"]
        feedback = stack.services["feedback"]
        headers = {
            name: auth(role, person_id=uuid.UUID(stack.people[name]))
            for name, role in (("Mona Manager", Role.manager), ("Emil Employee", Role.employee))
        }
        try:
            first: list[datetime] = []

            async def start() -> dict[str, Any] | None:
                # Weekly for 60 weeks already; today's meeting ends half a minute from now.
                begins = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=60, minutes=5, seconds=-30)
                response = await feedback.post(
                    "/checkins/series",
                    json={
                        "report_id": stack.people["Emil Employee"],
                        "rrule": "FREQ=WEEKLY",
                        "starts_at": begins.isoformat(),
                        "duration_minutes": 5,
                        "timezone": "UTC",
                    },
                    headers=headers["Mona Manager"],
                )
                first.append(begins)
                return response.json() if response.status_code == 201 else None

            created = await wait_until(start, timeout=30, message="the series starts")
            series, today = created["id"], created["next_occurrence"]["recurrence_id"]
            starts = [first[-1] + timedelta(weeks=week) for week in range(61)]
            ids = [at.strftime("%Y%m%dT%H%M%SZ") for at in starts]
            assert ids[-1] == today
            agenda = f"/checkins/series/{series}/occurrences/{today}/agenda"
            points: dict[str, str] = {}
            for name, text in (
                ("Mona Manager", "Hiring plan"),
                ("Emil Employee", "Offsite"),
                ("Mona Manager", "Budget"),
            ):
                added = await feedback.post(agenda, json={"text": text}, headers=headers[name])
                assert added.status_code == 201, added.text
                points[text] = added.json()["id"]
            for text in ("Offsite", "Budget"):
                covered = await feedback.patch(
                    f"/checkins/series/{series}/agenda/{points[text]}",
                    json={"covered": True},
                    headers=headers["Mona Manager"],
                )
                assert covered.status_code == 200, covered.text
            meetings = f"/checkins/{series}/meetings"

            async def over() -> str | None:
                page = await mona.get(meetings)
                return page.text if today in MEETING.findall(page.text) else None

            latest = await wait_until(over, timeout=60, message="today's meeting is over")

            # The latest year, newest first, ten a page; today's meeting with what was covered in it.
            window_start = midnight(datetime.now(BERLIN).date() + timedelta(days=1 - 365))
            recent = [rid for rid, at in zip(ids, starts, strict=True) if at >= window_start][::-1]
            before = [rid for rid, at in zip(ids, starts, strict=True) if at < window_start][::-1]
            assert MEETING.findall(latest) == recent[:10]
            assert "Offsite — Emil Employee (covered)" in latest
            assert "Budget — Mona Manager (covered)" in latest
            assert "Hiring plan" not in latest  # left open, it moved on to the next meeting
            assert "No talking points." in latest
            assert "Times are in your time zone (Europe/Berlin)." in latest
            assert f"1\u201310 of {len(recent)}" in latest
            assert f'href="{meetings}?&offset=10"' in latest
            assert f'href="{meetings}?until={window_start.date().isoformat()}"' in latest  # older meetings
            assert "Later meetings" not in latest
            assert "talking points of this meeting" not in latest
            assert "Hiring plan — Mona Manager" in (await mona.get(f"/checkins/{series}")).text
            last_page = (await mona.get(f"{meetings}?offset=50")).text
            assert MEETING.findall(last_page) == recent[50:60]
            # The year before: the first weeks of the series, a link back to the latest.
            older = (await mona.get(f"{meetings}?until={window_start.date().isoformat()}")).text
            assert MEETING.findall(older) == before
            assert f'href="{meetings}"' in older
            assert "Older meetings" not in older
            # A day that is not one: the latest year.
            assert MEETING.findall((await mona.get(f"{meetings}?until=someday")).text) == recent[:10]
            # The report reads the same, in his own zone.
            emil_view = (await emil.get(meetings)).text
            assert MEETING.findall(emil_view) == recent[:10]
            assert "Times are in your time zone (America/New_York)." in emil_view
            assert "Offsite — Emil Employee (covered)" in emil_view

            # More points than the list shows: a link to the meeting's own page, paged by the service.
            monkeypatch.setattr(checkin_pages, "POINTS_SHOWN", 1)
            monkeypatch.setattr(checkin_pages, "POINTS_PER_PAGE", 1)
            short = (await mona.get(meetings)).text
            assert "Budget" not in short
            assert f'<a href="{meetings}/{today}">All 2 talking points of this meeting</a>' in short
            one = await emil.get(f"{meetings}/{today}")
            assert one.status_code == 200, one.text
            assert "Offsite — Emil Employee (covered)" in one.text
            assert "Budget" not in one.text
            assert f'href="{meetings}/{today}?&offset=1"' in one.text
            two = (await emil.get(f"{meetings}/{today}?offset=1")).text
            assert "Budget — Mona Manager (covered)" in two
            assert "Offsite" not in two
            quiet = (await mona.get(f"{meetings}/{ids[0]}")).text
            assert "No talking points." in quiet
            # A meeting the series never had, or not a meeting's name at all.
            for rid in ("20200101T000000Z", "garbage"):
                missing = await mona.get(f"{meetings}/{rid}")
                assert missing.status_code == 404, rid
                assert NO_SUCH in missing.text

            # Everyone outside the pair: the service's 404, for the list and a meeting.
            for name in OUTSIDERS:
                assert (await clients[name].get(meetings)).status_code == 404, name
                assert (await clients[name].get(f"{meetings}/{today}")).status_code == 404, name
            malformed = await mona.get("/checkins/not-an-id/meetings")
            assert malformed.status_code == 404
            assert NO_SERIES in malformed.text
            assert (await mona.get(f"/checkins/{uuid.uuid4()}/meetings")).status_code == 404
            # Dora is deactivated while signed in: the service's 403.
            await deactivate_dora(stack, dora, meetings)
            assert (await dora.get(f"{meetings}/{today}")).status_code == 403

            # An ended series keeps its history readable.
            ended = await post(mona, f"/checkins/{series}/end")
            assert ended.status_code == 303, ended.text
            after = (await emil.get(meetings)).text
            assert MEETING.findall(after) == recent[:10]
            assert "Offsite — Emil Employee (covered)" in after
        finally:
            for client in clients.values():
                await client.aclose()
