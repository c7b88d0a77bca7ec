"""What a person typed survives a sign-in that ended, in their own tab (web/static/drafts.js), in Chromium
over the real reviews and feedback services.

Alice edits her saved self-assessment draft and writes more; her sign-in reaches its end
(MERITLOOP_WEB_SESSION_MAX_AGE, 30 seconds here) before she saves; the sign-in page says her text is
kept; once signed in again she is back on the form with her newer text in it and a notice, and the
service still holds the old draft. Saving it is accepted: the kept copy is gone, so it does not come
back when the service's draft changes from elsewhere, nor after feedback is sent. Another tab's copy
of a form goes once the form is sent from one tab. Text kept across pages is gone after sign-out, from
every tab, and never shown to someone else signing in in the same tab.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, async_playwright, expect

from shared.settings import Environment, Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycle_reads.support import Seeded
from tests.feedback.support import ensure_directory_stream
from tests.support.waiting import wait_until
from tests.web.browser.support import Pages, assert_axe_finds
from tests.web.conftest import serving
from web.app import SESSION_COOKIE, create_app
from web.settings import WebSettings

pytestmark = [pytest.mark.database, pytest.mark.timeout(600)]

# Long enough for the steps between two sign-ins on a busy machine, short enough to wait for once.
SIGN_IN_SECONDS = 30
SAVED = "Shipped the search rewrite."
LONGER = "Shipped the search rewrite, then forty minutes on what it taught the team about rollouts."
NEW = "Took the on-call rota over when nobody else would."
BOUNCED = "Your text from before your sign-in ended is back in the form. It is not saved yet."
RESTORED = "Your unsaved text from earlier in this tab is back in the form. It is not saved yet."
SENT_ELSEWHERE = "This form was sent from another tab. What you typed here is no longer kept, and it is not saved."
KEPT_DRAFTS = "Object.keys(sessionStorage).filter((key) => key.startsWith('meritloop-draft:'))"


async def sign_in_ends_at(context: BrowserContext) -> float:
    """The end of the sign-in, from the (signed, not encrypted) session cookie the browser holds."""
    [cookie] = [c for c in await context.cookies() if c["name"] == SESSION_COOKIE]
    data = cookie["value"].strip('"').split(".")[0]
    session: dict[str, Any] = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
    return float(session["person"]["ends_at"])


async def pick(page: Page, name: str) -> None:
    """The development picker of the sign-in page the browser is on."""
    await page.get_by_role("button", name=f"Sign in as {name}").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def draft_of(reviews: httpx.AsyncClient, task: str, headers: dict[str, str]) -> dict[str, str]:
    """What the reviews service holds as the task's draft: item -> comment."""
    form = (await reviews.get(f"/tasks/{task}", headers=headers)).json()
    return {answer["item"]: answer.get("comment") or "" for answer in (form["draft"] or {}).get("answers", [])}


async def test_typed_text_survives_an_ended_sign_in_in_the_tab(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, chromium: str, artefacts: Path
) -> None:
    async with service_client("reviews") as reviews:
        await ensure_directory_stream(settings.nats_url)
        async with service_client("feedback") as feedback:
            seeded = await Seeded(reviews, auth, settings).build()
            alice = seeded.token(seeded.alice)
            task = await seeded.add_task(seeded.alice, "self_assessment")
            saved = await reviews.put(
                f"/tasks/{task}/draft", json={"answers": [{"item": "craft", "comment": SAVED}]}, headers=alice
            )
            assert saved.status_code == 200, saved.text

            async def feedback_knows_everyone() -> bool:
                for person in (seeded.alice, seeded.bob):
                    if (await feedback.get(f"/people/{person}", headers=seeded.hr)).status_code != 200:
                        return False
                return True

            await wait_until(feedback_knows_everyone, timeout=30, message="the feedback service knows the people")

            app = create_app(
                settings.model_copy(update={"environment": Environment.development}),
                WebSettings(
                    session_max_age=SIGN_IN_SECONDS, development_token_ttl=SIGN_IN_SECONDS, token_refresh_margin=1
                ),
                transports={
                    "reviews": httpx.ASGITransport(app=reviews.app),  # type: ignore[attr-defined]
                    "feedback": httpx.ASGITransport(app=feedback.app),  # type: ignore[attr-defined]
                },
            )
            pages = Pages(artefacts)
            # A script the policy refused (inline, or from another origin) would say so on the console.
            refused: list[str] = []
            async with app.router.lifespan_context(app), serving(app) as base, async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                try:
                    await assert_axe_finds(browser)
                    context = await browser.new_context(base_url=base, locale="en-GB")
                    page = await context.new_page()
                    page.on("console", lambda message: refused.append(message.text))
                    await page.goto("/signin")
                    await pick(page, "alice")
                    task_page = f"/tasks/{task}"

                    # --- Alice writes on; her sign-in ends before she saves ---------------------------------
                    await page.goto(task_page)
                    craft = page.get_by_label("Comment on Craft")
                    ownership = page.get_by_label("Comment on Ownership")
                    await expect(craft).to_have_value(SAVED)
                    await craft.fill(LONGER)
                    await ownership.fill(NEW)
                    await page.get_by_role("group", name="Ownership").get_by_label("Level 3").check()
                    await asyncio.sleep(max(0.0, await sign_in_ends_at(context) - time.time()) + 0.5)
                    await page.get_by_role("button", name="Save draft").click()
                    await expect(page).to_have_url(re.compile(r"/signin\?next=[^&]+&unsaved=1$"))
                    assert parse_qs(urlsplit(page.url).query)["next"] == [task_page]
                    await expect(page.get_by_role("alert")).to_contain_text("your last change was not saved")
                    await expect(page.get_by_text("What you typed is kept in this browser tab")).to_be_visible()
                    await pages.check(page, "signin-text-kept")
                    assert await draft_of(reviews, task, alice) == {"craft": SAVED}

                    # --- signed in again: back on the form, with her newer text, not saved yet ------------------
                    await pick(page, "alice")
                    await expect(page).to_have_url(f"{base}{task_page}")
                    await expect(page.get_by_role("status")).to_have_text(BOUNCED)
                    await expect(craft).to_have_value(LONGER)  # over the older draft the page was rendered with
                    await expect(ownership).to_have_value(NEW)
                    await expect(page.get_by_role("group", name="Ownership").get_by_label("Level 3")).to_be_checked()
                    await pages.check(page, "task-text-back")
                    assert await draft_of(reviews, task, alice) == {"craft": SAVED}

                    # --- saved: accepted, so the kept copy is gone ----------------------------------------------
                    await page.get_by_role("button", name="Save draft").click()
                    await expect(page.get_by_role("status")).to_have_text("Draft saved.")
                    assert await draft_of(reviews, task, alice) == {"craft": LONGER, "ownership": NEW}
                    assert await page.evaluate(KEPT_DRAFTS) == []
                    # Her draft changes elsewhere (another device drops the ownership comment): the
                    # page shows what the service holds, and no stale copy fills the empty field.
                    elsewhere = await reviews.put(
                        f"/tasks/{task}/draft", json={"answers": [{"item": "craft", "comment": LONGER}]}, headers=alice
                    )
                    assert elsewhere.status_code == 200, elsewhere.text
                    await page.goto(task_page)
                    await expect(craft).to_have_value(LONGER)
                    await expect(ownership).to_have_value("")
                    await expect(page.get_by_role("status")).to_have_count(0)

                    # --- feedback sent: the field stays empty on every later visit -----------------------------
                    await page.get_by_role("link", name="Feedback", exact=True).click()
                    text = page.get_by_label("Your feedback (only they can read it)")
                    await page.get_by_label("To", exact=True).select_option(label="bob")
                    await text.fill("Your reviews unblocked the release.")
                    await page.get_by_role("button", name="Send feedback").click()
                    await expect(page.get_by_role("status")).to_have_text("Your feedback is sent.")
                    await expect(text).to_have_value("")
                    await page.get_by_role("link", name="Feedback", exact=True).click()
                    await expect(text).to_have_value("")
                    await expect(page.get_by_role("status")).to_have_count(0)

                    # --- text kept across pages in the tab, until she signs out ---------------------------------
                    await text.fill("Half a thought about the planning meeting")
                    await page.get_by_role("link", name="Inbox").click()
                    await page.get_by_role("link", name="Feedback", exact=True).click()
                    await expect(text).to_have_value("Half a thought about the planning meeting")
                    await expect(page.get_by_role("status")).to_have_text(RESTORED)
                    await pages.check(page, "feedback-text-back")
                    # A second tab keeps its own copy, until the same form is sent from the first one:
                    # the copy goes, and the form the second tab shows says so and keeps what it shows.
                    other = await context.new_page()
                    await other.goto("/feedback")
                    other_text = other.get_by_label("Your feedback (only they can read it)")
                    await other_text.fill("Written in another tab")
                    await other.get_by_role("link", name="Inbox").click()
                    assert len(await other.evaluate(KEPT_DRAFTS)) == 1
                    await other.get_by_role("link", name="Feedback", exact=True).click()
                    await expect(other_text).to_have_value("Written in another tab")
                    await page.get_by_label("To", exact=True).select_option(label="bob")
                    await page.get_by_role("button", name="Send feedback").click()
                    await expect(page.get_by_role("status")).to_have_text("Your feedback is sent.")
                    await expect(other.get_by_role("status").filter(has_text=SENT_ELSEWHERE)).to_be_visible()
                    await expect(other_text).to_have_value("Written in another tab")
                    assert await other.evaluate(KEPT_DRAFTS) == []
                    await pages.check(other, "feedback-sent-elsewhere")
                    # Typed on, it is kept again; sign-out in the first tab empties both.
                    await other_text.fill("Written on in another tab")
                    await other.get_by_role("link", name="Inbox").click()
                    assert len(await other.evaluate(KEPT_DRAFTS)) == 1
                    await page.get_by_role("link", name="Feedback", exact=True).click()
                    await text.fill("Half a thought about the next planning meeting")
                    await page.get_by_role("link", name="Inbox").click()
                    assert len(await page.evaluate(KEPT_DRAFTS)) == 1
                    await page.get_by_role("button", name="Sign out").click()
                    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
                    assert await page.evaluate(KEPT_DRAFTS) == []
                    assert await other.evaluate(KEPT_DRAFTS) == []
                    await other.close()
                    await pick(page, "alice")
                    await page.get_by_role("link", name="Feedback", exact=True).click()
                    await expect(text).to_have_value("")
                    await expect(page.get_by_role("status")).to_have_count(0)

                    # --- someone else signing in in the same tab never sees it ----------------------------------
                    await text.fill("Alice's words, not for bob")
                    await page.get_by_role("link", name="Inbox").click()
                    assert len(await page.evaluate(KEPT_DRAFTS)) == 1
                    await page.goto("/signin")
                    await pick(page, "bob")
                    await page.get_by_role("link", name="Feedback", exact=True).click()
                    await expect(text).to_have_value("")
                    assert await page.evaluate(KEPT_DRAFTS) == []
                finally:
                    await browser.close()
            assert pages.count == 4, pages.checked
            assert pages.violations == [], "\n".join(pages.violations)
            assert [message for message in refused if "Content Security Policy" in message] == []
