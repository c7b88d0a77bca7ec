"""A 1:1 series' talking point reworded, its earlier meetings opened, its meetings skipped, moved and the
series ended through the pages, in Chromium, over the real reviews and feedback services (and NATS). An
empty wording and a move outside the series' order are refused beside their fields first. Every page
gets a screenshot and an axe-core check (WCAG 2.1 A/AA)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.waiting import wait_until
from tests.web.browser.support import Pages, browsing, sign_in
from web.checkin_pages import NO_WORDING, OUT_OF_ORDER

pytestmark = [pytest.mark.database, pytest.mark.timeout(600)]

BERLIN = ZoneInfo("Europe/Berlin")


async def test_skip_move_and_end_a_one_to_one_in_the_browser(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, chromium: str, artefacts: Path
) -> None:
    hr_setup = auth(Role.hr, person_id=uuid.uuid4())
    async with service_client("reviews") as reviews, service_client("feedback") as feedback:
        people: dict[str, str] = {}
        for name, manager in (("Mara Manager", None), ("Eli Employee", "Mara Manager")):
            body: dict[str, Any] = {
                "email": f"{name.split()[0].lower()}@example.com",
                "display_name": name,
                "department": "Eng",
                "timezone": "Europe/Berlin",
            }
            if manager:
                body["manager_id"] = people[manager]
            created = await reviews.post("/people", json=body, headers=hr_setup)
            assert created.status_code == 201, created.text
            people[name] = created.json()["id"]
        mara = auth(Role.manager, person_id=uuid.UUID(people["Mara Manager"]))
        first = (datetime.now(UTC) + timedelta(days=3)).astimezone(BERLIN).strftime("%Y-%m-%dT10:00")

        async def start() -> dict[str, Any] | None:
            # The feedback service learns the reporting line from the directory's events.
            response = await feedback.post(
                "/checkins/series",
                json={"report_id": people["Eli Employee"], "rrule": "FREQ=WEEKLY", "starts_at": first},
                headers=mara,
            )
            return response.json() if response.status_code == 201 else None

        series = await wait_until(start, timeout=30, message="the series starts")
        listed = await feedback.get(f"/checkins/series/{series['id']}/occurrences", headers=mara)
        original = [item["recurrence_id"] for item in listed.json()["items"]]
        second_start = datetime.fromisoformat(listed.json()["items"][1]["starts_at"]).astimezone(BERLIN)
        moved_to = (second_start + timedelta(days=1)).replace(hour=15, minute=30)

        pages = Pages(artefacts)
        async with browsing(settings, chromium, {"reviews": reviews, "feedback": feedback}) as (browser, base):
            _, page = await sign_in(browser, base, "Mara Manager")
            await page.get_by_role("link", name="1:1s").click()
            await page.get_by_role("link", name="Eli Employee").click()
            await expect(page.get_by_role("heading", name="Coming meetings")).to_be_visible()
            await pages.check(page, "series")

            # Mara puts a talking point on the agenda and rewords it: an empty wording first.
            await page.get_by_label("Talking point").fill("Quarterly goals")
            await page.get_by_role("button", name="Add to the agenda").click()
            await page.get_by_text("Reword", exact=True).click()
            wording = page.get_by_label("New wording")
            await wording.fill("")
            await page.get_by_role("button", name="Save the new wording").click()
            await expect(page.get_by_text(NO_WORDING)).to_be_visible()
            await expect(page.get_by_label("New wording")).to_have_attribute("aria-invalid", "true")
            await pages.check(page, "reword-refused")
            await page.get_by_label("New wording").fill("Quarterly goals, revisited")
            await page.get_by_role("button", name="Save the new wording").click()
            await expect(page.get_by_role("status")).to_have_text("The talking point is reworded.")
            await expect(page.get_by_text("Quarterly goals, revisited — Mara Manager")).to_be_visible()
            await pages.check(page, "reworded")
            held = await feedback.get(f"/checkins/series/{series['id']}/occurrences/{original[0]}/agenda", headers=mara)
            assert [item["text"] for item in held.json()["items"]] == ["Quarterly goals, revisited"]

            # The series begins in three days: no meeting of it is over yet.
            await page.get_by_role("link", name="Earlier meetings and their agendas").click()
            await expect(page.get_by_role("heading", name=re.compile("Earlier meetings"))).to_be_visible()
            await expect(page.get_by_text("There are no earlier meetings in this time.")).to_be_visible()
            await pages.check(page, "earlier-meetings")
            await page.get_by_role("link", name="Back to the 1:1").click()

            await page.get_by_role("button", name="Skip this meeting").first.click()
            await expect(page.get_by_role("status")).to_have_text("The meeting is skipped.")
            await expect(page.get_by_role("heading", name=re.compile(r"\(skipped\)"))).to_have_count(1)
            await pages.check(page, "skipped")

            # The first meeting left with a form is the second one now.
            when = page.get_by_label(re.compile("New time for the meeting of")).first
            await when.fill((moved_to + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
            await page.get_by_role("button", name="Move this meeting").first.click()
            await expect(page.get_by_text(OUT_OF_ORDER)).to_be_visible()
            await expect(page.locator(f"#starts_at-{original[1]}")).to_have_attribute("aria-invalid", "true")
            await pages.check(page, "move-refused")
            await page.locator(f"#starts_at-{original[1]}").fill(moved_to.strftime("%Y-%m-%dT%H:%M"))
            await page.get_by_role("button", name="Move this meeting").first.click()
            await expect(page.get_by_role("status")).to_have_text("The meeting is moved.")
            await expect(page.get_by_role("heading", name=re.compile("moved from"))).to_have_count(1)
            await pages.check(page, "moved")
            held = await feedback.get(f"/checkins/series/{series['id']}/occurrences", headers=mara)
            by_id = {item["recurrence_id"]: item for item in held.json()["items"]}
            assert by_id[original[0]]["status"] == "skipped"
            assert by_id[original[1]]["status"] == "moved"
            assert datetime.fromisoformat(by_id[original[1]]["starts_at"]) == moved_to

            await page.get_by_role("link", name="End this 1:1 series…").click()
            await expect(page.get_by_role("heading", name=re.compile("End the 1:1 series"))).to_be_visible()
            await pages.check(page, "end-confirm")
            await page.get_by_role("button", name="Yes, end the series").click()
            await expect(page.get_by_role("status")).to_have_text("The 1:1 series has ended.")
            await expect(page.get_by_role("link", name="Eli Employee")).to_have_count(0)
            await pages.check(page, "ended")
        assert pages.count == 9, pages.checked
        assert pages.violations == [], "\n".join(pages.violations)
        # What the browser did is what the service holds.
        after = (await feedback.get(f"/checkins/series/{series['id']}", headers=mara)).json()
        assert after["status"] == "ended"
