"""Upward feedback through the pages, in Chromium, over the real reviews and feedback services (and NATS).

HR opens a standalone pulse, three reports of one manager answer it (one first forgets the rating:
the refusal stands beside the form), HR closes it, and the manager reads her score and the
comments without a count. Every page gets a screenshot and an axe-core check (WCAG 2.1 A/AA).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from shared.auth import Role
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.web.browser.support import Pages, browsing, reload_until, sign_in

pytestmark = [pytest.mark.database, pytest.mark.timeout(600)]

REPORTS = ("Eli Employee", "Ela Employee", "Emo Employee")


async def test_an_upward_pulse_answered_in_the_browser(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, chromium: str, artefacts: Path
) -> None:
    hr_setup = auth(Role.hr, person_id=uuid.uuid4())
    async with service_client("reviews") as reviews, service_client("feedback") as feedback:
        people: dict[str, str] = {}
        for name, department, manager in (
            ("Hedda People", "People", None),
            ("Mara Manager", "Eng", None),
            *((report, "Eng", "Mara Manager") for report in REPORTS),
        ):
            body: dict[str, Any] = {
                "email": f"{name.split()[0].lower()}@example.com",
                "display_name": name,
                "department": department,
                "timezone": "Europe/Berlin",
            }
            if manager:
                body["manager_id"] = people[manager]
            created = await reviews.post("/people", json=body, headers=hr_setup)
            assert created.status_code == 201, created.text
            people[name] = created.json()["id"]
        pages = Pages(artefacts)
        async with browsing(settings, chromium, {"reviews": reviews, "feedback": feedback}) as (browser, base):

            async def close(pulse: str) -> None:
                closed = await feedback.post(f"/upward-feedback/{pulse}/close", headers=hr_setup)
                assert closed.json()["status"] == "closed", closed.text

            pulse = await _answer_and_read(browser, base, pages, close)
        assert pages.count >= 7, pages.checked
        assert pages.violations == [], "\n".join(pages.violations)
        # The pulse was answered in the browser: the service holds one released aggregate of three.
        mine = await feedback.get(
            f"/upward-feedback/{pulse}/results/me", headers=auth(person_id=uuid.UUID(people["Mara Manager"]))
        )
        assert mine.json()["rater_count"] == 3, mine.text
        assert (await feedback.post(f"/upward-feedback/{pulse}/close", headers=hr_setup)).json()["status"] == "closed"


async def _answer_and_read(browser: Browser, base: str, pages: Pages, close: Callable[[str], Awaitable[None]]) -> str:
    # --- HR opens a pulse ---------------------------------------------------------------------------
    _, hr = await sign_in(browser, base, "Hedda People")
    await hr.get_by_role("link", name="Upward feedback (HR)").click()
    await expect(hr.get_by_text("No upward feedback yet.")).to_be_visible()
    await hr.get_by_label("Title").fill("Spring pulse")
    await hr.get_by_role("button", name="Open", exact=True).click()
    await expect(hr.locator("#error-closes_on")).to_be_visible()
    await expect(hr.get_by_label("Closes on (end of the working day)")).to_have_attribute("aria-invalid", "true")
    await pages.check(hr, "hr-upward-new-error")
    await hr.get_by_label("Closes on (end of the working day)").fill((utcnow() + timedelta(days=7)).date().isoformat())
    await hr.get_by_role("button", name="Open", exact=True).click()
    await expect(hr.get_by_role("status")).to_contain_text("The upward feedback is open")
    await pages.check(hr, "hr-upward-opened")
    pulse = (await hr.get_by_role("link", name="Its results page").get_attribute("href") or "").split("/")[2]

    # --- the reports answer -------------------------------------------------------------------------
    for number, name in enumerate(REPORTS):
        _, report = await sign_in(browser, base, name)
        await report.get_by_role("link", name="Upward feedback", exact=True).click()
        # The feedback service learns the report and their manager from the directory's events.
        await reload_until(
            report,
            lambda page=report: page.get_by_role("heading", name="Spring pulse").is_visible(),  # type: ignore[misc]
            f"{name}'s pulse",
        )
        if number == 0:
            # The inbox mentions the pulse and leads to it.
            await report.get_by_role("link", name="Inbox").click()
            await expect(report.get_by_role("heading", name="Upward feedback you may answer")).to_be_visible()
            await pages.check(report, "employee-inbox-upward")
            await report.get_by_role("link", name="Spring pulse").click()
        await expect(report.get_by_text("Open until")).to_be_visible()
        if number == 0:
            await pages.check(report, "employee-upward")
            await report.get_by_label("Comment (optional; your manager reads it without your name)").fill(
                "Shields us from churn."
            )
            await report.get_by_role("button", name="Send my answer").click()
            await expect(report.get_by_text("Choose a rating from 1 to 5.")).to_be_visible()
            await pages.check(report, "employee-upward-no-rating")
        await report.get_by_role("radio", name=re.compile(rf"{4 - number} . (far )?(above|meets|below)")).check()
        await report.get_by_role("button", name="Send my answer").click()
        await expect(report.get_by_role("status")).to_contain_text("Thank you: your answer is recorded.")
        await expect(report.get_by_text("You have answered this one.")).to_be_visible()
        if number == 0:
            await pages.check(report, "employee-upward-answered")
        await report.context.close()

    # --- the manager, before the close ----------------------------------------------------------------
    _, mara = await sign_in(browser, base, "Mara Manager")
    await mara.goto(f"/upward/{pulse}/results")
    await expect(mara.get_by_text("Results are shown after it closes")).to_be_visible()
    await pages.check(mara, "manager-upward-before-close")

    # --- HR closes it (the sweep would at its time); she reads her score, never a count -------------
    await close(pulse)
    await mara.reload()
    await expect(mara.get_by_text("Score: 50 of 100")).to_be_visible()
    await expect(mara.get_by_text("Shields us from churn.")).to_be_visible()
    await expect(mara.get_by_text("No results about you")).to_have_count(0)
    await pages.check(mara, "manager-upward-results")
    await hr.goto(f"/upward/{pulse}/results")
    await expect(hr.get_by_role("row", name="Eng 50 1")).to_be_visible()
    await expect(hr.get_by_text("Shields us from churn.")).to_have_count(0)
    await pages.check(hr, "hr-upward-results")

    # --- HR opens a second pulse and cancels it from the list, through the confirmation page ----------
    await hr.get_by_role("link", name="Upward feedback (HR)").click()
    await hr.get_by_label("Title").fill("Autumn pulse")
    await hr.get_by_label("Closes on (end of the working day)").fill((utcnow() + timedelta(days=9)).date().isoformat())
    await hr.get_by_role("button", name="Open", exact=True).click()
    await expect(hr.get_by_role("row", name=re.compile("Spring pulse closed"))).to_be_visible()
    await pages.check(hr, "hr-upward-list")
    await hr.get_by_role("link", name="Autumn pulse").click()
    await hr.get_by_role("link", name="Cancel it without results…").click()
    await expect(hr.get_by_text("This cannot be undone.")).to_be_visible()
    await pages.check(hr, "hr-upward-cancel-confirm")
    await hr.get_by_role("button", name="Yes, cancel it without results").click()
    await expect(hr.get_by_role("status")).to_contain_text("The upward feedback is cancelled")
    await pages.check(hr, "hr-upward-cancelled")
    await hr.get_by_role("link", name="Every upward feedback").click()
    await hr.get_by_label("Status").select_option("cancelled")
    await hr.get_by_role("button", name="Filter").click()
    await expect(hr.get_by_role("row", name=re.compile("Autumn pulse cancelled"))).to_be_visible()
    await expect(hr.get_by_role("link", name="Spring pulse")).to_have_count(0)
    return pulse
