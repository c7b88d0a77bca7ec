"""A goal changed through the pages in Chromium, over the real reviews and goals services (and NATS):
its title, weight and visibility, a key result added, a milestone added and marked done, the key result
removed through the page that asks first, a refused weight shown beside its field first. Every page gets
a screenshot and an axe-core check (WCAG 2.1 A/AA)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.async_api import expect

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.waiting import wait_until
from tests.web.browser.support import Pages, browsing, sign_in

pytestmark = [pytest.mark.database, pytest.mark.timeout(600)]


async def test_change_a_goal_in_the_browser(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, chromium: str, artefacts: Path
) -> None:
    hr = auth(Role.hr, person_id=uuid.uuid4())
    async with service_client("reviews") as reviews, service_client("goals") as goals:
        body = {"email": "eli@example.com", "display_name": "Eli Employee", "department": "Eng"}
        created = await reviews.post("/people", json=body, headers=hr)
        assert created.status_code == 201, created.text
        eli = created.json()["id"]

        async def goal() -> str | None:
            # The goals service learns Eli from the directory's events.
            response = await goals.post("/goals", json={"title": "Halve the build time", "owner_id": eli}, headers=hr)
            return str(response.json()["id"]) if response.status_code == 201 else None

        goal_id = await wait_until(goal, timeout=30, message="the goal is created")
        pages = Pages(artefacts)
        async with browsing(settings, chromium, {"reviews": reviews, "goals": goals}) as (browser, base):
            _, page = await sign_in(browser, base, "Eli Employee")
            await page.get_by_role("link", name="Goals").first.click()
            await page.get_by_role("link", name="Change Halve the build time").click()
            await expect(page.get_by_role("heading", name="Change goal")).to_be_visible()
            await pages.check(page, "edit")

            goal_form = page.locator(f'form[action="/goals/{goal_id}/edit"]')
            await goal_form.get_by_label("Title").fill("Halve the CI time")
            await goal_form.get_by_label("Weight (0-100)").fill("250")
            await goal_form.get_by_role("button", name="Save goal").click()
            await expect(page.locator("#goal-weight")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#error-goal-weight")).to_be_visible()
            await pages.check(page, "weight-refused")
            await page.locator("#goal-weight").fill("30")
            await page.get_by_label("Who may see it").select_option("private")
            await page.get_by_role("button", name="Save goal").click()
            await expect(page.get_by_role("status")).to_have_text("Saved.")
            await expect(page.locator("#goal-title")).to_have_value("Halve the CI time")

            await page.locator("#kr-new-title").fill("p95 build minutes")
            await page.locator("#kr-new-start_value").fill("40")
            await page.locator("#kr-new-target_value").fill("20")
            await page.get_by_role("button", name="Add key result").click()
            await expect(page.get_by_role("form", name="Key result p95 build minutes")).to_be_visible()

            await page.locator("#ms-new-title").fill("Cache the toolchain")
            await page.locator("#ms-new-due_date").fill("2026-09-30")
            await page.get_by_role("button", name="Add milestone").click()
            milestone = page.get_by_role("form", name="Milestone Cache the toolchain")
            await milestone.get_by_role("button", name="Mark done").click()
            await expect(milestone.get_by_role("button", name="Not done after all")).to_be_visible()
            await pages.check(page, "changed")

            key_result = page.get_by_role("form", name="Key result p95 build minutes")
            await key_result.get_by_role("link", name="Remove key result p95 build minutes").click()
            await expect(page.get_by_role("heading", name="Remove the key result p95 build minutes?")).to_be_visible()
            await pages.check(page, "remove-key-result")
            await page.get_by_role("button", name="Yes, remove the key result").click()
            await expect(page.get_by_role("status")).to_have_text("Removed.")
            await expect(page.get_by_role("form", name="Key result p95 build minutes")).to_have_count(0)
            await expect(page.get_by_label("Who may see it")).to_have_value("private")
            await pages.check(page, "removed")
        assert pages.count == 5, pages.checked
        assert pages.violations == [], "\n".join(pages.violations)
        # What the browser did is what the service holds.
        held = (await goals.get(f"/goals/{goal_id}", headers=hr)).json()
        assert (held["title"], held["weight"], held["visibility"]) == ("Halve the CI time", 30, "private")
        assert held["key_results"] == []
        assert [m["completed_at"] is not None for m in held["milestones"]] == [True]
        audit = (await goals.get(f"/goals/{goal_id}/audit", headers=hr)).json()["items"]
        # Only the milestone done is left to measure it: the goal is done.
        assert {entry["action"] for entry in audit[:2]} == {"key_result_removed", "completed"}
        assert (held["progress"], held["status"]) == (100.0, "done")
