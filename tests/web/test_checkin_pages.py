"""1:1 check-ins in the pages, over the real feedback service: a series, its agenda, action items and
private notes (the other participant never sees my notes; a stranger cannot open the series)."""

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


async def test_a_one_to_one_series(web_stack: StackFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        await stack.add_person("Mona Manager", "Eng", timezone="Europe/Berlin")
        emil = await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        una = await stack.add_person("Una Unrelated", "Sales")
        web = stack.web
        first = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT10:00")

        await sign_in_as(web, stack.people["Mona Manager"])
        bad = await post_form(
            web, "/checkins", "/checkins", {"report_id": emil, "rrule": "FREQ=WEEKLY", "starts_at": "soon"}
        )
        assert bad.status_code == 422, bad.text
        assert 'id="error-starts_at"' in bad.text

        started: list[httpx.Response] = []

        async def start() -> bool:
            # The feedback service learns the reporting line from the directory's events.
            response = await post_form(
                web,
                "/checkins",
                "/checkins",
                {"report_id": emil, "rrule": "FREQ=WEEKLY;INTERVAL=2", "starts_at": first, "duration_minutes": "30"},
            )
            started.append(response)
            return response.status_code == 303

        await wait_until(start, timeout=30, message="the series starts")
        series_path = started[-1].headers["location"].split("?")[0]
        page = await web.get(series_path)
        assert page.status_code == 200, page.text
        recurrence = page.text.split('name="recurrence_id" value="')[1].split('"')[0]
        assert "Emil Employee" in (await web.get("/checkins")).text

        empty = await post_form(web, series_path, f"{series_path}/agenda", {"recurrence_id": recurrence, "text": ""})
        assert empty.status_code == 422, empty.text
        assert 'id="error-text"' in empty.text
        added = await post_form(
            web, series_path, f"{series_path}/agenda", {"recurrence_id": recurrence, "text": "Career goals for 2027"}
        )
        assert added.status_code == 303, added.text
        action = await post_form(
            web,
            series_path,
            f"{series_path}/actions",
            {"recurrence_id": recurrence, "title": "Draft the promotion case", "owner_id": emil},
        )
        assert action.status_code == 303, action.text
        note = await post_form(
            web, series_path, f"{series_path}/notes", {"recurrence_id": recurrence, "note": "Seems ready for L4."}
        )
        assert note.status_code == 303, note.text
        mona_view = (await web.get(series_path)).text
        assert "Career goals for 2027" in mona_view
        assert "Draft the promotion case" in mona_view
        assert "Seems ready for L4." in mona_view

        # Emil sees the shared agenda and action items, never Mona's note; he marks his item done.
        await sign_in_as(web, emil)
        emil_view = (await web.get(series_path)).text
        assert "Career goals for 2027" in emil_view
        assert "Seems ready for L4." not in emil_view
        item_id = emil_view.split(f'action="{series_path}/done">')[1].split('name="item_id" value="')[1].split('"')[0]
        done = await post_form(web, series_path, f"{series_path}/done", {"item_id": item_id})
        assert done.status_code == 303, done.text
        assert "Draft the promotion case — Emil Employee (done)" in (await web.get(series_path)).text

        # The meetings for his own calendar: a file, linked from the page, without the agenda.
        calendar = f"{series_path}/calendar.ics"
        assert f'href="{calendar}" download' in (await web.get(series_path)).text
        ics = await web.get(calendar)
        assert ics.status_code == 200, ics.text
        assert ics.headers["content-type"] == "text/calendar; charset=utf-8"
        assert "SUMMARY:1:1: Mona Manager and Emil Employee" in ics.text
        assert "RRULE:FREQ=WEEKLY;INTERVAL=2" in ics.text
        assert "Career goals" not in ics.text

        # A colleague outside the pair: the service's 404, for the calendar too.
        await sign_in_as(web, una)
        assert (await web.get(series_path)).status_code == 404
        assert (await web.get(calendar)).status_code == 404
