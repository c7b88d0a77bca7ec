"""A small review cycle run to the end through the pages, in Chromium.

HR creates and launches a cycle, the employee saves a draft and submits the self-assessment, the
manager submits the review, HR calibrates (a missing reason is shown next to its field) and sees
the distribution chart, the manager submits pay, HR approves it, and the employee acknowledges.
Every page gets a screenshot under test-artefacts/web/ and an axe-core check (WCAG 2.1 A/AA):
no serious or critical violation may remain.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from shared.auth import Role
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.notifications.conftest import Notifier
from tests.reviews_config.builders import scale_body, template_body
from tests.rewards.support import MATRIX, band, import_csv
from tests.support.waiting import wait_until
from tests.web.browser.support import Pages, browsing, reload_until, sign_in

pytestmark = [pytest.mark.database, pytest.mark.timeout(900)]


async def test_a_review_cycle_through_the_pages(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    cycle_worker: WorkerFactory,
    chromium: str,
    artefacts: Path,
    notifier: Notifier,
) -> None:
    hr_setup = auth(Role.hr, person_id=uuid.uuid4())
    async with (
        service_client("reviews") as reviews,
        service_client("rewards") as rewards,
        service_client("goals") as goals,
        service_client("feedback") as feedback,
        cycle_worker(),
    ):
        # --- the organisation and configuration (set up through the APIs) -----------------------
        people: dict[str, str] = {}
        for name, department, manager in (
            ("Hedda People", "People", None),
            ("Mara Manager", "Exec", None),
            ("Eli Employee", "Eng", "Mara Manager"),
            ("Uma Unrelated", "Sales", None),
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
        scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr_setup)).json()
        template = (await reviews.post("/templates", json=template_body(scale["id"]), headers=hr_setup)).json()
        assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr_setup)).status_code == 200
        assert (
            await rewards.post("/pay-bands", json=band("G1", "EUR", "40000", "50000", "60000"), headers=hr_setup)
        ).status_code == 201
        day = (utcnow() - timedelta(days=30)).date().isoformat()

        async def pay_imported() -> bool:
            imported = await import_csv(rewards, hr_setup, (people["Eli Employee"], "EUR", "50000", "G1", day))
            if imported.status_code == 422 and "no person with this id" in imported.text:
                return False
            assert imported.status_code in (200, 201), imported.text
            return True

        await wait_until(pay_imported, timeout=30, interval=0.2, message="rewards knows the people")
        assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr_setup)).status_code == 201

        async def goals_know_eli() -> bool:
            return (await goals.get(f"/people/{people['Eli Employee']}", headers=hr_setup)).status_code == 200

        await wait_until(goals_know_eli, timeout=30, message="goals knows Eli")
        goal = await goals.post(
            "/goals",
            json={
                "title": "Cut the p99 latency of the search API to 200 ms",
                "owner_id": people["Eli Employee"],
                "weight": 100,
                "period_start": "2026-01-01",
                "period_end": "2026-12-31",
                "due_date": "2026-06-30",
            },
            headers=hr_setup,
        )
        assert goal.status_code == 201, goal.text

        pages = Pages(artefacts)
        async with browsing(
            settings,
            chromium,
            {"reviews": reviews, "rewards": rewards, "goals": goals, "feedback": feedback},
            {"notifications": notifier.app},
        ) as (browser, base):
            await _run_cycle(browser, base, pages, people)
        assert pages.count >= 20, pages.checked
        assert pages.violations == [], "\n".join(pages.violations)


async def _run_cycle(browser: Browser, base: str, pages: Pages, people: dict[str, str]) -> None:
    # --- sign-in page ---------------------------------------------------------------------------
    anonymous = await browser.new_context(base_url=base)
    page = await anonymous.new_page()
    await page.goto("/inbox")
    assert page.url.startswith(f"{base}/signin")
    await pages.check(page, "signin")
    await anonymous.close()

    # --- HR creates and launches the cycle ------------------------------------------------------
    _, hr = await sign_in(browser, base, "Hedda People")
    await hr.get_by_role("link", name="Review cycles").click()
    await pages.check(hr, "hr-cycles-empty")
    await hr.get_by_role("link", name="New cycle").click()
    await pages.check(hr, "hr-cycle-new")
    # A cycle without a name: the error stands next to the field.
    await hr.get_by_label("Departments").fill("Eng")
    await hr.get_by_role("button", name="Create cycle").click()
    await expect(hr.locator("#error-name")).to_be_visible()
    await expect(hr.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    await pages.check(hr, "hr-cycle-new-error")
    await hr.get_by_label("Name", exact=True).fill("2026 annual review")
    await hr.get_by_role("button", name="Create cycle").click()
    await expect(hr.get_by_role("heading", name="2026 annual review")).to_be_visible()
    await pages.check(hr, "hr-cycle-draft")
    await hr.get_by_role("button", name="Launch").click()
    await expect(hr.get_by_role("status")).to_contain_text("launched")
    cycle_url = hr.url.split("?")[0]
    # HR gives the self-assessment six more days (still before the manager review's deadline).
    await hr.get_by_label("Step").select_option("self_assessment")
    await hr.get_by_label("New deadline").fill((utcnow() + timedelta(days=20)).date().isoformat())
    await hr.get_by_role("button", name="Extend").click()
    await expect(hr.get_by_role("status")).to_contain_text("extended")
    await pages.check(hr, "hr-cycle-launched")

    # --- the employee saves a draft and submits the self-assessment ---------------------------------
    _, eli = await sign_in(browser, base, "Eli Employee")
    await reload_until(
        eli, lambda: eli.get_by_role("link", name="Self-assessment").is_visible(), "Eli's self-assessment task"
    )
    await pages.check(eli, "employee-inbox")
    await eli.get_by_role("link", name="My goals").click()
    await expect(eli.get_by_role("heading", name=re.compile("p99 latency"))).to_be_visible()
    await pages.check(eli, "employee-goals")
    await eli.get_by_role("link", name="Praise").click()
    await eli.get_by_label("Who").select_option(label="Mara Manager")
    await eli.get_by_label("Message", exact=True).fill("Thanks for unblocking the search rewrite.")
    await eli.get_by_role("button", name="Give praise").click()
    await expect(eli.get_by_role("status")).to_contain_text("praise is on the wall")
    await expect(eli.get_by_text("Thanks for unblocking the search rewrite.")).to_be_visible()
    await pages.check(eli, "employee-praise")
    # Written feedback and the feedback requests page (the feedback service), then pay approvals.
    await eli.get_by_role("link", name="Feedback", exact=True).click()
    await eli.get_by_label("To", exact=True).select_option(label="Mara Manager")
    await eli.get_by_label("Your feedback (only they can read it)").fill("The design review was sharp and kind.")
    await eli.get_by_role("button", name="Send feedback").click()
    await expect(eli.get_by_role("status")).to_contain_text("Your feedback is sent")
    await expect(eli.get_by_text("The design review was sharp and kind.")).to_be_visible()
    await pages.check(eli, "employee-feedback")
    await eli.get_by_role("link", name="Feedback requests").click()
    await pages.check(eli, "employee-feedback-requests")
    await eli.get_by_role("link", name="Pay approvals").click()
    await expect(eli.get_by_text("No pay approval waits on you.")).to_be_visible()
    await pages.check(eli, "employee-approvals")
    # A 1:1 series with his manager, and a talking point for its first meeting.
    await eli.get_by_role("link", name="1:1s").click()
    await pages.check(eli, "employee-checkins")
    await eli.get_by_label("First meeting").fill((utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT10:00"))
    await eli.get_by_role("button", name="Start the series").click()
    await expect(eli.get_by_role("heading", name=re.compile("1:1: Mara Manager"))).to_be_visible()
    await eli.get_by_label("Talking point").fill("The search rewrite's next milestone")
    await eli.get_by_role("button", name="Add to the agenda").click()
    await expect(eli.get_by_text("The search rewrite's next milestone")).to_be_visible()
    await pages.check(eli, "employee-checkin-series")
    # The notification settings every mail links to (the notifications component).
    await eli.get_by_role("link", name="Notifications").click()
    await eli.get_by_label("Hour of the daily digest").select_option(label="07:00")
    receive = eli.get_by_role("group", name="Mails I want to receive")
    await receive.get_by_label("Reminders before a task is due").uncheck()
    await eli.get_by_role("group", name="Mail these at once").get_by_label("A new task for me").check()
    await eli.get_by_label("Quiet from").select_option(label="22:00")
    await eli.get_by_label("Quiet until").select_option(label="07:00")
    await eli.get_by_role("button", name="Save").click()
    await expect(eli.get_by_role("status")).to_contain_text("notification settings are saved")
    await expect(receive.get_by_label("Reminders before a task is due")).not_to_be_checked()
    await expect(eli.get_by_role("group", name="Mail these at once").get_by_label("A new task for me")).to_be_checked()
    await pages.check(eli, "employee-notifications")
    await eli.get_by_role("link", name="Inbox").click()
    await eli.get_by_role("link", name="Self-assessment").click()
    await pages.check(eli, "employee-self-assessment")
    await eli.get_by_role("group", name="Craft").get_by_label("Level 4").check()
    await eli.get_by_label("Comment on Craft").fill("Shipped the search rewrite.")
    await eli.get_by_role("button", name="Save draft").click()
    await expect(eli.get_by_role("status")).to_contain_text("Draft saved")
    await expect(eli.get_by_role("group", name="Craft").get_by_label("Level 4")).to_be_checked()
    await eli.get_by_role("group", name="Ownership").get_by_label("Level 3").check()
    await eli.get_by_role("group", name=re.compile("How big was the impact")).get_by_label("Level 4").check()
    self_assessment_url = eli.url.split("?")[0]
    await eli.get_by_role("button", name="Submit").click()
    await expect(eli.get_by_role("status")).to_contain_text("Sent")
    await pages.check(eli, "employee-inbox-after-submit")

    # Who may open Eli's self-assessment: an unrelated colleague gets "Not found"; HR reads it
    # without a way to change it.
    _, uma = await sign_in(browser, base, "Uma Unrelated")
    answer = await uma.goto(self_assessment_url)
    assert answer is not None
    assert answer.status == 404
    await expect(uma.get_by_role("heading", name="Not found")).to_be_visible()
    await pages.check(uma, "colleague-not-found")
    await hr.goto(self_assessment_url)
    await expect(hr.get_by_role("heading", name=re.compile("Self-assessment: Eli Employee"))).to_be_visible()
    await expect(hr.get_by_role("button", name="Submit")).to_have_count(0)
    await expect(hr.get_by_role("group", name="Craft").get_by_label("Level 4")).to_be_disabled()

    # --- the manager submits the review ---------------------------------------------------------------
    _, mara = await sign_in(browser, base, "Mara Manager")
    await mara.get_by_role("link", name="My team").click()
    await expect(mara.get_by_role("rowheader", name="Eli Employee")).to_be_visible()
    await pages.check(mara, "manager-team")
    await mara.get_by_role("link", name="Reviews to write").click()
    await reload_until(
        mara, lambda: mara.get_by_role("link", name="Manager review").is_visible(), "Mara's manager review"
    )
    await pages.check(mara, "manager-reviews-to-write")
    await mara.get_by_role("link", name="Manager review").click()
    await expect(mara.get_by_role("heading", name="Self-assessment")).to_be_visible()  # Eli's answers, read-only
    await mara.get_by_role("group", name="Craft").get_by_label("Level 4").check()
    await mara.get_by_role("group", name="Ownership").get_by_label("Level 4").check()
    await mara.get_by_role("group", name=re.compile("How big was the impact")).get_by_label("Level 5").check()
    await mara.get_by_label("Comment on Ownership").fill("Took the on-call rota over.")
    await pages.check(mara, "manager-review-form")
    await mara.get_by_role("button", name="Submit").click()
    await expect(mara.get_by_role("status")).to_contain_text("Sent")

    # --- HR follows the cycle, calibrates and sees the chart ---------------------------------------------
    await hr.goto(cycle_url)
    await expect(hr.locator("svg[role=img]")).to_be_visible()
    await reload_until(hr, lambda: hr.get_by_role("link", name="Eng").is_visible(), "the calibration session")
    await pages.check(hr, "hr-cycle-progress")
    await hr.get_by_role("link", name="Eng").click()
    await expect(hr.locator("#chart-distribution-title")).to_have_text("Rating distribution against the guideline")
    # The 9-box and the pay consequences, priced by rewards (Eli has a record and the matrix applies).
    await expect(hr.locator("#chart-ninebox-title")).to_have_text("9-box: performance against potential")
    await expect(hr.locator("#chart-spend-title")).to_have_text("Projected merit spend against the budget per unit")
    await expect(hr.get_by_text(re.compile(r"\(1 of 1 people priced\)"))).to_be_visible()
    await pages.check(hr, "hr-calibration")
    await hr.get_by_label("New rating").select_option(label="Outstanding")
    await hr.get_by_role("button", name="Change the rating").click()  # no reason given
    await expect(hr.locator("#error-reason")).to_be_visible()
    await pages.check(hr, "hr-calibration-error")
    await hr.get_by_label("Reason").fill("Carried the platform migration beyond the goal.")
    await hr.get_by_role("button", name="Change the rating").click()
    await expect(hr.get_by_role("status")).to_contain_text("rating is changed")
    await expect(hr.get_by_role("row", name=re.compile("Eli Employee"))).to_contain_text("5")
    await pages.check(hr, "hr-calibration-adjusted")
    await hr.get_by_role("button", name="Finalize").click()
    await expect(hr.get_by_role("status")).to_contain_text("finalized")

    # --- pay: the manager reviews and submits, HR approves the unit -------------------------------------
    await mara.get_by_role("link", name="Inbox").click()
    await reload_until(mara, lambda: mara.get_by_role("link", name="Pay review").is_visible(), "Mara's pay review")
    await mara.get_by_role("link", name="Pay review").click()
    await mara.get_by_role("link", name="Pay proposals").click()
    await reload_until(
        mara, lambda: mara.get_by_role("button", name="Submit all drafts").is_visible(), "Eli's pay proposal"
    )
    await mara.get_by_label("Increase (percent) for Eli Employee").fill("4.5")
    await mara.get_by_label("Justification").fill("Carried the platform migration.")
    await mara.get_by_role("button", name="Save").click()
    await expect(mara.get_by_role("status")).to_contain_text("Budget used")
    await pages.check(mara, "manager-pay")
    await mara.get_by_role("button", name="Submit all drafts").click()
    await expect(mara.get_by_role("status")).to_contain_text("submitted")
    await mara.get_by_role("link", name="Inbox").click()
    await mara.get_by_role("link", name="Pay review").click()
    await mara.get_by_role("button", name="Mark as reviewed").click()
    await expect(mara.get_by_role("status")).to_contain_text("Sent")
    await hr.goto(cycle_url)
    await reload_until(
        hr, lambda: hr.get_by_role("link", name="Pay approval", exact=True).is_visible(), "the pay approval phase"
    )
    await hr.get_by_role("link", name="Pay approval", exact=True).click()
    await reload_until(hr, lambda: hr.get_by_role("button", name="Approve Eng").is_visible(), "Eng's proposals")
    await pages.check(hr, "hr-pay-approval")
    await hr.get_by_role("button", name="Approve Eng").click()
    await expect(hr.get_by_role("status")).to_contain_text("approved")

    # --- the employee acknowledges ------------------------------------------------------------------
    await eli.get_by_role("link", name="Inbox").click()
    await reload_until(
        eli, lambda: eli.get_by_role("link", name="Acknowledgement").is_visible(), "Eli's acknowledgement"
    )
    await eli.get_by_role("link", name="Acknowledgement").click()
    await expect(eli.get_by_text("Outstanding")).to_be_visible()  # the calibrated final rating
    await pages.check(eli, "employee-acknowledgement")
    await eli.get_by_label("Your comment").fill("Thank you; the impact rating undersells the migration.")
    await eli.get_by_label("I dispute the rating").check()
    await eli.get_by_role("button", name="Acknowledge").click()
    await expect(eli.get_by_role("status")).to_contain_text("Sent")

    # --- HR answers the dispute ---------------------------------------------------------------
    await hr.get_by_role("link", name="Disputes").click()
    await reload_until(hr, lambda: hr.get_by_role("heading", name="Eli Employee").is_visible(), "Eli's dispute")
    await pages.check(hr, "hr-disputes")
    await hr.get_by_label("Answer to the employee").fill("Calibration weighed the migration; the rating stands.")
    await hr.get_by_role("button", name="Resolve").click()
    await expect(hr.get_by_role("status")).to_contain_text("resolved")

    await hr.goto(cycle_url)
    await reload_until(hr, lambda: hr.get_by_text("Closed", exact=True).first.is_visible(), "the cycle closed")
    await pages.check(hr, "hr-cycle-closed")
    await hr.get_by_role("link", name="Review cycles").click()
    await pages.check(hr, "hr-cycles")

    # --- a second cycle: overdue at once, a task reassigned, moved on a phase, cancelled ------------
    await hr.get_by_role("link", name="New cycle").click()
    await hr.goto(f"{hr.url}?people_q=Mara")  # as after a search: the people lists' search form is shown
    await hr.get_by_label("Name", exact=True).fill("Mid-year check")
    await hr.get_by_label("Departments").fill("Eng")
    # Its self-assessment was due yesterday: the task is overdue from the start.
    due = (utcnow() - timedelta(days=1)).date().isoformat()
    await hr.get_by_label("Self-assessment").fill(due)
    # A search reloads the page; what HR typed comes back from the tab's draft.
    await hr.get_by_label("Find people by name or e-mail").fill("Eli")
    await hr.get_by_role("button", name="Find", exact=True).click()
    await expect(hr.get_by_role("status")).to_contain_text("Your unsaved text from earlier in this tab")
    await expect(hr.get_by_label("Find people by name or e-mail")).to_have_value("Eli")
    await expect(hr.get_by_label("Name", exact=True)).to_have_value("Mid-year check")
    await expect(hr.get_by_label("Departments")).to_have_value("Eng")
    await expect(hr.get_by_label("Self-assessment")).to_have_value(due)
    await hr.get_by_role("button", name="Create cycle").click()
    await hr.get_by_role("button", name="Launch").click()
    await expect(hr.get_by_role("status")).to_contain_text("launched")
    await reload_until(hr, lambda: hr.get_by_role("button", name="Reassign").is_visible(), "an overdue task")
    await pages.check(hr, "hr-cycle-overdue")
    await hr.get_by_label("New assignee").select_option(label="Mara Manager")
    await hr.get_by_role("button", name="Reassign").click()
    await expect(hr.get_by_role("status")).to_contain_text("reassigned")
    await reload_until(
        hr, lambda: hr.get_by_role("button", name="Open the next phase").is_visible(), "the first phase open"
    )
    await hr.get_by_role("button", name="Open the next phase").click()
    await expect(hr.get_by_role("status")).to_contain_text("next phase opens")
    await reload_until(
        hr, lambda: hr.get_by_text("Manager review", exact=True).first.is_visible(), "the manager review phase"
    )
    await hr.get_by_label("Reason").fill("Merged into the annual review.")
    await hr.get_by_role("button", name="Cancel the cycle").click()
    await expect(hr.get_by_role("status")).to_contain_text("cancelled")
    await reload_until(hr, lambda: hr.get_by_text("cancelled", exact=True).first.is_visible(), "the cycle cancelled")
    await pages.check(hr, "hr-cycle-cancelled")
