"""HR's lists in Chromium over the real reviews and feedback services: HR adds a competency (a name the list
has refused beside the field first) and a 1:1 agenda template, and a colleague's feedback names the
competency; every page screenshotted and axe-checked (WCAG 2.1 A/AA)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.browser.support import Pages, assert_axe_finds, sign_in
from tests.web.conftest import StackFactory, serving

pytestmark = [pytest.mark.database, pytest.mark.timeout(600)]


async def test_hr_keeps_the_lists_and_feedback_names_a_competency_in_the_browser(
    web_stack: StackFactory, auth: TokenFactory, chromium: str, artefacts: Path
) -> None:
    async with web_stack("reviews", "feedback") as stack:
        await stack.add_person("Hanna HR", "People")
        mia = await stack.add_person("Mia Manager", "Eng")
        ada = await stack.add_person("Ada Employee", "Eng", "Mia Manager")

        async def feedback_knows_them() -> bool:
            for person in (mia, ada):
                found = await stack.services["feedback"].get(f"/people/{person}", headers=stack.hr_headers)
                if found.status_code != 200:
                    return False
            return True

        await wait_until(feedback_knows_them, timeout=30, message="the feedback service knows Mia and Ada")
        pages = Pages(artefacts)
        async with serving(stack.app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                await assert_axe_finds(browser)
                _, hr = await sign_in(browser, base, "Hanna HR")
                await hr.get_by_role("link", name="Company values and competencies").click()
                await expect(hr.get_by_text("There are no competencies yet.")).to_be_visible()
                await pages.check(hr, "values-empty")
                add = hr.get_by_role("form", name="Add a competency")
                await add.get_by_label("Name").fill("Clarity")
                await add.get_by_label("Description (optional)").fill("Plans and docs others can act on.")
                await add.get_by_role("button", name="Add the competency").click()
                await expect(hr.get_by_role("status")).to_contain_text("“Clarity” is added")
                add = hr.get_by_role("form", name="Add a competency")
                await add.get_by_label("Name").fill("clarity")
                await add.get_by_role("button", name="Add the competency").click()
                await expect(add.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
                await expect(add.get_by_text("Another competency has this name already")).to_be_visible()
                await pages.check(hr, "values-refused")

                await hr.get_by_role("link", name="1:1 agenda templates").click()
                add = hr.get_by_role("form", name="Add an agenda template")
                await add.get_by_label("Name").fill("Weekly")
                await add.get_by_label("Prompts, one per line").fill("Wins since last time\nBlockers")
                await add.get_by_role("button", name="Add the agenda template").click()
                await expect(hr.get_by_role("status")).to_contain_text("“Weekly” is added")
                await expect(hr.get_by_text("Blockers", exact=True)).to_be_visible()
                await pages.check(hr, "agenda-templates")

                _, colleague = await sign_in(browser, base, "Ada Employee")
                await colleague.get_by_role("link", name="Feedback", exact=True).click()
                await colleague.get_by_label("To", exact=True).select_option(label="Mia Manager")
                await colleague.get_by_label("Competency it is about (optional)").select_option(label="Clarity")
                await colleague.get_by_label("Your feedback (only they can read it)").fill("Your plan read clearly.")
                await colleague.get_by_role("button", name="Send feedback").click()
                await expect(colleague.get_by_role("status")).to_contain_text("Your feedback is sent")
                await colleague.goto("/feedback?view=given")
                await expect(colleague.get_by_text("Competency: Clarity")).to_be_visible()
                await pages.check(colleague, "feedback-about-a-competency")
            finally:
                await browser.close()
        assert pages.count == 4, pages.checked
        assert pages.violations == [], "\n".join(pages.violations)
