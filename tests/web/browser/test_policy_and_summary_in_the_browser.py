"""HR's approval policy page and a manager's year summary page in Chromium, each with its refusal beside
the field first, over the real services; every page screenshotted and axe-checked (WCAG 2.1 A/AA)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.drafts.conftest import PRAISE, PUBLIC_GOAL, World, model, settings, world
from tests.llm.server import ModelServer, down
from tests.web.browser.support import Pages, assert_axe_finds, sign_in
from tests.web.conftest import StackFactory, serving
from tests.web.test_policy_pages import pay_cycle
from web.summary_pages import YEAR_ERROR

__all__ = ["model", "settings", "world"]  # the organisation of tests/drafts and the scripted model server

pytestmark = [pytest.mark.database, pytest.mark.timeout(600)]


async def test_hr_sets_the_approval_policy_in_the_browser(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings, chromium: str, artefacts: Path
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        mia = await stack.add_person("Mia Manager", "Eng")
        ada = await stack.add_person("Ada Employee", "Eng", "Mia Manager")
        hanna = await stack.add_person("Hanna HR", "People")
        carl = await stack.add_person("Carl Comp", "People")
        hr = auth(Role.hr, person_id=uuid.UUID(hanna))
        cycle = await pay_cycle(stack, settings, hr, ada, mia)
        pages = Pages(artefacts)
        async with serving(stack.app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                await assert_axe_finds(browser)
                _, page = await sign_in(browser, base, "Hanna HR")
                await page.goto(f"/hr/pay/{cycle}")
                await page.get_by_role("link", name="Approval policy").click()
                await expect(page.get_by_text("No approval policy is set for this cycle")).to_be_visible()
                await pages.check(page, "policy-none")
                await page.get_by_label("Levels above the manager (0-10)").fill("11")
                await page.get_by_label("Hours each step may take").fill("48")
                await page.get_by_role("button", name="Save the approval policy").click()
                await expect(page.get_by_label("Levels above the manager (0-10)")).to_have_attribute(
                    "aria-invalid", "true"
                )
                await pages.check(page, "policy-refused")
                await page.get_by_label("Levels above the manager (0-10)").fill("2")
                await page.get_by_label("Final approver").select_option(label="Carl Comp")
                await page.get_by_label("Escalation 1: notify").select_option(label="the HR owner")
                await page.get_by_label("Escalation 1: hours after the deadline").fill("24")
                await page.get_by_role("button", name="Save the approval policy").click()
                await expect(page.get_by_role("status")).to_contain_text("The approval policy is saved.")
                await pages.check(page, "policy-saved")
            finally:
                await browser.close()
        assert pages.count == 3, pages.checked
        assert pages.violations == [], "\n".join(pages.violations)
        held = (await stack.services["rewards"].get(f"/cycles/{cycle}/approval-policy", headers=hr)).json()
        assert (held["depth"], held["final_approver_id"], held["step_hours"]) == (2, carl, 48)
        assert held["escalation"] == [{"after_hours": 24.0, "notify": "hr"}]


async def test_a_manager_reads_a_year_summary_in_the_browser(
    world: World, settings: Settings, model: ModelServer, chromium: str, artefacts: Path
) -> None:
    s = world.seeded
    await s.set_participant(s.alice, goal_score=70.0)
    model.answer(down())
    app = world.web_app(settings)
    pages = Pages(artefacts)
    async with app.router.lifespan_context(app), serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            await assert_axe_finds(browser)
            _, page = await sign_in(browser, base, "mgr")
            await page.get_by_role("link", name="My team").click()
            await pages.check(page, "team")
            await page.get_by_role("link", name="Year summary: alice").click()
            await pages.check(page, "year-summary-form")
            await page.get_by_label("Year").fill("1999")
            await page.get_by_role("button", name="Write the summary").click()
            await expect(page.get_by_text(YEAR_ERROR)).to_be_visible()
            await expect(page.get_by_label("Year")).to_have_attribute("aria-invalid", "true")
            await pages.check(page, "year-summary-refused")
            await page.get_by_label("Year").fill("2026")
            await page.get_by_role("button", name="Write the summary").click()
            await expect(page.get_by_role("heading", name="Summary of 2026")).to_be_visible()
            sentences = page.locator("ol.sentences")
            await expect(sentences).to_contain_text(PUBLIC_GOAL)
            await expect(sentences).to_contain_text(PRAISE)
            # A citation leads to its source in the list.
            await sentences.get_by_role("link").first.click()
            await expect(page).to_have_url(re.compile(r"#source-\d+$"))
            await pages.check(page, "year-summary")
        finally:
            await browser.close()
    assert pages.count == 4, pages.checked
    assert pages.violations == [], "\n".join(pages.violations)
