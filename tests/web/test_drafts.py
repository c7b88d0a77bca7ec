"""Drafts in the tab, without a browser: every page loads web/static/drafts.js from this site under a policy
that refuses inline script, the forms where people write opt in (an editable task form only), the
notices come in the person's language, and sign-out tells the browser to empty the site's storage.
What the script does is tested in Chromium (tests/web/browser/test_drafts_in_the_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded
from tests.web.conftest import StackFactory, csrf_of, sign_in_as

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
SCRIPT = '<script src="/static/drafts.js" defer'
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL | re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
FORM_TAG = re.compile(r"<form\b[^>]*>")
BOUNCED = "Your text from before your sign-in ended is back in the form. It is not saved yet."
BOUNCED_DE = "Ihr Text von vor dem Ende Ihrer Anmeldung steht wieder im Formular. Er ist noch nicht gespeichert."

# template -> the form actions in it that keep drafts (the forms where people write)
KEPT = {
    "task.html": ["/tasks/{{ task.id|urlencode }}"],
    "feedback.html": ["/feedback"],
    "feedback_requests.html": ["/feedback/requests/{{ entry.request_id }}/answer", "/feedback/requests"],
    "checkin_series.html": [
        "/checkins/{{ series.id }}/agenda/{{ a.id }}/reword",
        "/checkins/{{ series.id }}/agenda",
        "/checkins/{{ series.id }}/actions",
        "/checkins/{{ series.id }}/notes",
    ],
    "checkin_templates.html": ["{{ address }}", "{{ address }}/{{ t.id }}"],
    "upward.html": ["/upward/{{ pid }}"],
    "praise.html": ["/praise"],
    "disputes.html": ["/hr/disputes/{{ d.id }}/resolve"],
    "dispute_late.html": ["/tasks/{{ task.id|urlencode }}/dispute"],
    "approval_chain.html": ["/approvals/{{ cycle_id }}/{{ chain.manager_id }}"],
    "calibration.html": ["/hr/calibration/{{ calibration.id }}/adjustments"] * 2,
    "goal_new.html": ["/goals/new"],
    "cycle_new.html": ["/hr/cycles"],
    "pay_approval.html": ["/hr/pay/{{ cycle_id }}/{{ s.org_unit|urlencode }}/return"],
    "pay_unit.html": ["{{ address }}/return"],
    "values.html": ["{{ address }}/{{ section.kind }}", "{{ address }}/{{ section.kind }}/{{ e.id }}"],
    "goal_edit.html": [
        "/goals/{{ goal.id }}/edit",
        "/goals/{{ goal.id }}/status",
        "/goals/{{ goal.id }}/key-results",
        "/goals/{{ goal.id }}/milestones",
    ],
}


def kept_forms(html: str) -> list[str]:
    """The actions of the forms in ``html`` that opt in to drafts."""
    found = [re.search(r'action="([^"]*)"', tag) for tag in FORM_TAG.findall(html) if "data-keep-draft" in tag]
    return [match.group(1) for match in found if match]


def assert_no_inline_script(html: str) -> None:
    for attributes, body in SCRIPT_TAG.findall(html):
        assert re.search(r'\ssrc="/static/[^"]+"', attributes), attributes
        assert body.strip() == "", body
    assert EVENT_HANDLER.search(html) is None


def test_the_forms_where_people_write_keep_drafts_and_no_template_has_inline_script() -> None:
    for name, actions in KEPT.items():
        assert kept_forms((TEMPLATES / name).read_text(encoding="utf-8")) == actions, name
    for path in TEMPLATES.glob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert_no_inline_script(html)
        if path.name not in KEPT:
            assert "data-keep-draft" not in html, path.name  # sign-in, sign-out and the rest post no prose
    # The calibration page's two forms post to one address: their drafts are told apart by name.
    calibration = (TEMPLATES / "calibration.html").read_text(encoding="utf-8")
    assert 'data-keep-draft="rating"' in calibration
    assert 'data-keep-draft="potential"' in calibration


def assert_strict_policy(response: httpx.Response) -> None:
    policy: dict[str, str] = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        policy[name] = value
    # Scripts only as files of this site: no inline script or handler, no eval, no other origin.
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.database
async def test_pages_carry_the_script_and_mark_the_forms(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "feedback") as stack:
        seeded = await Seeded(stack.services["reviews"], auth, settings).build()
        task = await seeded.add_task(seeded.alice, "self_assessment")
        greta = await stack.add_person("Greta Deutsch", "Eng", locale="de-DE")
        web = stack.web

        script = await web.get("/static/drafts.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert_strict_policy(script)
        # Per tab only: a shared computer must not keep review text after the tab is closed.
        assert "sessionStorage" in script.text
        assert re.search(r"localStorage\s*[.\[]", script.text) is None

        signin = await web.get("/signin", params={"next": "/inbox", "unsaved": "1"})
        assert SCRIPT in signin.text
        assert "data-person" not in signin.text  # nobody is signed in: the script keeps the drafts waiting
        assert '<p id="draft-kept" hidden>' in signin.text  # shown by the script when a draft waits
        assert_strict_policy(signin)
        assert_no_inline_script(signin.text)
        assert 'id="draft-kept"' not in (await web.get("/signin")).text

        await sign_in_as(web, seeded.alice)
        page = await web.get(f"/tasks/{task}")
        assert page.status_code == 200, page.text
        assert SCRIPT in page.text
        assert f'data-bounced="{BOUNCED}"' in page.text
        assert f'data-person="{seeded.alice}"' in page.text
        assert len(kept_forms(page.text)) == 1
        assert_strict_policy(page)
        assert_no_inline_script(page.text)
        for path in ("/feedback", "/feedback/requests", "/praise"):
            shown = await web.get(path)
            assert shown.status_code == 200, (path, shown.text)
            assert SCRIPT in shown.text, path
            assert kept_forms(shown.text), path
            assert_no_inline_script(shown.text)
        # Her manager may read the task but not change it: nothing of it is kept.
        await sign_in_as(web, seeded.manager)
        readonly = await web.get(f"/tasks/{task}")
        assert readonly.status_code == 200, readonly.text
        assert "readonly" in readonly.text
        assert kept_forms(readonly.text) == []

        # The notices come in the person's language, like the page.
        await sign_in_as(web, greta)
        german = await web.get("/feedback")
        assert f'data-bounced="{BOUNCED_DE}"' in german.text
        german_signin = await web.get("/signin", params={"unsaved": "1"}, headers={"accept-language": "de"})
        assert "bleibt in diesem Browser-Tab erhalten" in german_signin.text

        # Sign-out empties the site's storage in every tab of the browser, the kept drafts with it.
        out = await web.post("/signout", data={"csrf_token": csrf_of(german.text)})
        assert out.status_code == 303
        assert out.headers["location"] == "/signin"
        assert out.headers["clear-site-data"] == '"storage"'
