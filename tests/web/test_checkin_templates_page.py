"""1:1 agenda templates in the pages over the real reviews and feedback services (and NATS): HR adds, renames,
re-prompts, archives and restores them on /hr/checkin-templates, refusals beside their fields with what was
typed kept and nothing stored; only HR and admins reach that page. On a series page either participant chooses
a template (or none), and every meeting's agenda shows its prompts above the talking points."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, deactivate_dora, web_client
from tests.web.conftest import hr_org as org
from tests.web.test_checkin_actions import cast, post
from tests.web.test_checkin_agendas import MEETING
from tests.web.test_rewards_settings_page import error_of
from web.checkin_pages import (
    ENTER_A_NAME,
    ENTER_PROMPTS,
    NO_SUCH_TEMPLATE,
    NO_TEMPLATE,
    PROMPTS_RULE,
    TEMPLATE_NAME_TAKEN,
    prompt_lines,
)

pytestmark = pytest.mark.database

PAGE = "/hr/checkin-templates"
API = "/checkins/agenda-templates"
ARCHIVED = "(archived: nobody can choose it)"
FROM_TEMPLATE = "From the agenda template"
NOTICE = '<p class="notice" role="status">'


async def stored(stack: Stack) -> dict[str, dict[str, Any]]:
    """The templates as feedback holds them, archived ones too, by name."""
    found = await stack.services["feedback"].get(
        API, params={"include_archived": "true", "limit": 200}, headers=stack.hr_headers
    )
    assert found.status_code == 200, found.text
    return {str(entry["name"]): entry for entry in found.json()["items"]}


async def add_directly(stack: Stack, name: str, prompts: list[str]) -> str:
    added = await stack.services["feedback"].post(
        API, json={"name": name, "prompts": prompts}, headers=stack.hr_headers
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def card(html: str, template_id: str) -> str:
    """The part of the HR page about one template (up to the next one's)."""
    return html.split(f'<h3 id="template-{template_id}">', 1)[1].split('<li class="card">', 1)[0]


def choice(html: str) -> str:
    """The series page's select of agenda templates."""
    return html.split('<select id="agenda_template_id"', 1)[1].split("</select>", 1)[0]


def prompts_shown(html: str, key: str = "prompts") -> list[str]:
    """The template's prompts heading an agenda, as the page lists them (none: [])."""
    found = re.search(rf'<ul class="prompts" aria-labelledby="{key}">(.*?)</ul>', html, re.DOTALL)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def test_prompts_are_typed_one_per_line() -> None:
    assert prompt_lines("  Wins \r\n\nBlockers\n   \nGrowth  ") == ["Wins", "Blockers", "Growth"]
    assert prompt_lines(" \n ") == []


async def test_hr_keeps_the_agenda_templates(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        hanna = (await org(stack, auth))["Hanna HR"]
        page = await hanna.get(PAGE)
        assert page.status_code == 200, page.text
        assert "There are no agenda templates yet." in page.text

        # Added: one prompt a line, blank lines and spaces at either end left out.
        added = await post(hanna, PAGE, name="  Weekly ", prompts="  Wins \r\n\r\nBlockers\r\nGrowth & learning\r\n")
        assert added.status_code == 303, added.text
        weekly = (await stored(stack))["Weekly"]
        assert weekly["prompts"] == ["Wins", "Blockers", "Growth & learning"]
        assert added.headers["location"] == f"{PAGE}?notice=added&template={weekly['id']}"
        html = (await hanna.get(added.headers["location"])).text
        assert f"{NOTICE}“Weekly” is added: managers and their reports can choose it" in html
        mine = card(html, weekly["id"])
        assert "<li>Wins</li>" in mine
        assert "<li>Growth &amp; learning</li>" in mine
        assert ">Wins\nBlockers\nGrowth &amp; learning</textarea>" in mine
        assert f'action="{PAGE}/{weekly["id"]}/archive"' in mine

        # Refusals beside their fields, what was typed kept, nothing stored.
        before = await stored(stack)
        twice = await post(hanna, PAGE, name="WEEKLY", prompts="Typed, not lost.")
        assert twice.status_code == 409, twice.text
        assert error_of(twice.text, "new-name") == TEMPLATE_NAME_TAKEN
        assert 'value="WEEKLY" aria-invalid="true" aria-describedby="error-new-name"' in twice.text
        assert ">Typed, not lost.</textarea>" in twice.text
        blank = await post(hanna, PAGE, name=" ", prompts="\n \n")
        assert blank.status_code == 422, blank.text
        assert (error_of(blank.text, "new-name"), error_of(blank.text, "new-prompts")) == (ENTER_A_NAME, ENTER_PROMPTS)
        for prompts in ("\n".join(f"Prompt {n}" for n in range(11)), "Wins\nBlockers\nwins", "x" * 201):
            refused = await post(hanna, PAGE, name="Another", prompts=prompts)
            assert refused.status_code == 422, refused.text
            assert error_of(refused.text, "new-prompts") == PROMPTS_RULE
            assert 'aria-describedby="new-prompts-hint error-new-prompts" aria-invalid="true"' in refused.text
        long = await post(hanna, PAGE, name="n" * 101, prompts="Wins")
        assert long.status_code == 422, long.text
        assert "100" in error_of(long.text, "new-name")
        assert await stored(stack) == before

        # Renamed, the prompts replaced; a name another template has is refused beside that template's name.
        saved = await post(hanna, f"{PAGE}/{weekly['id']}", name="Weekly sync", prompts="Energy\nWins")
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{PAGE}?notice=saved&template={weekly['id']}"
        assert (await stored(stack))["Weekly sync"]["prompts"] == ["Energy", "Wins"]
        other = await add_directly(stack, "Career", ["Where next?"])
        clash = await post(hanna, f"{PAGE}/{other}", name="weekly SYNC", prompts="Mine")
        assert clash.status_code == 409, clash.text
        assert error_of(clash.text, f"{other}-name") == TEMPLATE_NAME_TAKEN
        assert "<details open><summary>Rename Career or change its prompts</summary>" in clash.text
        assert ">Mine</textarea>" in clash.text
        assert (await stored(stack))["Career"]["prompts"] == ["Where next?"]

        # Archived (twice changes nothing): marked and offered to be restored; restored as before.
        for _ in range(2):
            archived = await post(hanna, f"{PAGE}/{weekly['id']}/archive")
            assert archived.status_code == 303, archived.text
        assert (await stored(stack))["Weekly sync"]["archived"] is True
        html = (await hanna.get(archived.headers["location"])).text
        assert f"{NOTICE}“Weekly sync” is archived: nobody can choose it any more" in html
        assert ARCHIVED in card(html, weekly["id"])
        assert f'action="{PAGE}/{weekly["id"]}/restore"' in html
        restored = await post(hanna, f"{PAGE}/{weekly['id']}/restore")
        assert restored.status_code == 303, restored.text
        assert (await stored(stack))["Weekly sync"]["archived"] is False
        restored_page = (await hanna.get(restored.headers["location"])).text
        assert f"{NOTICE}“Weekly sync” is restored: people can choose it again.</p>" in restored_page
        # A notice the template no longer bears out says nothing.
        assert NOTICE not in (await hanna.get(archived.headers["location"])).text

        # What is not a template: 404, nothing asked; no CSRF token: 403.
        unknown = await post(hanna, f"{PAGE}/not-an-id", name="Typing", prompts="x")
        assert unknown.status_code == 404
        assert NO_SUCH_TEMPLATE in unknown.text
        assert (await post(hanna, f"{PAGE}/{uuid.uuid4()}/archive")).status_code == 404
        forged = await hanna.post(PAGE, data={"name": "Forged", "prompts": "x"})
        assert forged.status_code == 403
        assert "Forged" not in await stored(stack)


async def test_the_templates_page_by_page(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        hanna = (await org(stack, auth))["Hanna HR"]
        ids = [await add_directly(stack, f"Template {n:02}", ["Wins"]) for n in range(22)]
        second = await hanna.get(f"{PAGE}?offset=20")
        assert "21\u201322 of 22" in second.text
        assert f'href="{PAGE}?&offset=0"' in second.text
        # A post on the second page comes back to it.
        archived = await post(hanna, f"{PAGE}/{ids[21]}/archive", offset="20")
        assert archived.headers["location"] == f"{PAGE}?notice=archived&template={ids[21]}&offset=20"
        refused = await post(hanna, f"{PAGE}/{ids[21]}", name="Template 00", prompts="Wins", offset="20")
        assert refused.status_code == 409, refused.text
        assert f'<h3 id="template-{ids[21]}">' in refused.text


async def test_only_hr_and_admins_keep_the_templates(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await org(stack, auth)
        template = await add_directly(stack, "Weekly", ["Wins"])
        before = await stored(stack)
        try:
            # Not HR (the employee, her manager, the skip-level, a colleague elsewhere): refused before feedback
            # is asked, the page and every post.
            for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
                client = clients[name]
                assert (await client.get(PAGE)).status_code == 403, name
                assert (await post(client, PAGE, name=f"By {name}", prompts="x")).status_code == 403, name
                assert (await post(client, f"{PAGE}/{template}", name="Mine", prompts="x")).status_code == 403, name
                assert (await post(client, f"{PAGE}/{template}/archive")).status_code == 403, name
            assert await stored(stack) == before

            # HR and admins: the page and its posts.
            for name in ("Hanna HR", "Adam Admin"):
                client = clients[name]
                assert (await client.get(PAGE)).status_code == 200, name
                assert (await post(client, PAGE, name=f"By {name}", prompts="x")).status_code == 303, name
            assert set(await stored(stack)) == {"Weekly", "By Hanna HR", "By Adam Admin"}
            assert (await post(clients["Adam Admin"], f"{PAGE}/{template}/archive")).status_code == 303
            assert (await stored(stack))["Weekly"]["archived"] is True

            signed_out = await web_client(stack.app).get(PAGE)
            assert signed_out.status_code == 303
            assert signed_out.headers["location"] == f"/signin?next={PAGE}"

            # HR who left while signed in: feedback refuses her once it learns of it, the page and the posts.
            dora = clients["Dora Departing"]
            token = await deactivate_dora(stack, dora, PAGE)
            for action, fields in (
                (PAGE, {"name": "By Dora", "prompts": "x"}),
                (f"{PAGE}/{template}", {"name": "Renamed by Dora", "prompts": "x"}),
                (f"{PAGE}/{template}/restore", {}),
            ):
                refused = await dora.post(action, data={"csrf_token": token, **fields})
                assert refused.status_code == 403, (action, refused.text)
            assert set(await stored(stack)) == {"Weekly", "By Hanna HR", "By Adam Admin"}
            assert (await stored(stack))["Weekly"]["archived"] is True
        finally:
            for client in clients.values():
                await client.aclose()


async def test_a_series_uses_an_agenda_template(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await cast(stack, auth)
        mona, emil, una = clients["Mona Manager"], clients["Emil Employee"], clients["Una Unrelated"]
        feedback = stack.services["feedback"]
        weekly = await add_directly(stack, "Weekly", ["Wins since last time", "Blockers & risks"])
        career = await add_directly(stack, "Career", ["Where next?"])
        gone = await add_directly(stack, "Retired", ["Old question"])
        assert (await feedback.delete(f"{API}/{gone}", headers=stack.hr_headers)).status_code == 204
        try:

            async def start() -> dict[str, Any] | None:
                # Weekly for three weeks already: the earlier meetings have their pages.
                begins = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=3) + timedelta(hours=2)
                response = await feedback.post(
                    "/checkins/series",
                    json={
                        "report_id": stack.people["Emil Employee"],
                        "rrule": "FREQ=WEEKLY",
                        "starts_at": begins.isoformat(),
                        "timezone": "UTC",
                    },
                    headers=auth(Role.manager, person_id=uuid.UUID(stack.people["Mona Manager"])),
                )
                return response.json() if response.status_code == 201 else None

            created = await wait_until(start, timeout=30, message="the series starts")
            series, upcoming = created["id"], created["next_occurrence"]["recurrence_id"]
            path = f"/checkins/{series}"
            choose = f"{path}/agenda-template"

            # The current templates are offered, none chosen yet; no prompts head the agenda.
            page = (await mona.get(path)).text
            offered = choice(page)
            assert '<option value="">none</option>' in offered
            assert f'<option value="{weekly}">Weekly</option>' in offered
            assert f'<option value="{career}">Career</option>' in offered
            assert "selected" not in offered  # "none", the first option
            assert gone not in page
            assert FROM_TEMPLATE not in page

            # Either of the two chooses: every meeting's agenda shows the prompts above the talking points.
            chosen = await post(emil, choose, agenda_template_id=weekly)
            assert chosen.status_code == 303, chosen.text
            assert chosen.headers["location"] == f"{path}?notice=template"
            point = await post(mona, f"{path}/agenda", recurrence_id=upcoming, text="Hiring plan")
            assert point.status_code == 303, point.text
            for client in (mona, emil):
                html = (await client.get(chosen.headers["location"])).text
                assert "The agenda template is saved." in html
                assert f'<option value="{weekly}" selected>Weekly</option>' in html
                assert prompts_shown(html) == ["Wins since last time", "Blockers &amp; risks"]
                assert html.index(FROM_TEMPLATE) < html.index("Hiring plan")
            earlier = (await mona.get(f"{path}/meetings")).text
            meetings = MEETING.findall(earlier)
            assert len(meetings) == 3
            for rid in meetings:
                assert prompts_shown(earlier, f"prompts-{rid}") == ["Wins since last time", "Blockers &amp; risks"]
            one = (await emil.get(f"{path}/meetings/{upcoming}")).text
            assert prompts_shown(one) == ["Wins since last time", "Blockers &amp; risks"]
            assert one.index(FROM_TEMPLATE) < one.index("Hiring plan")

            # An archived template is not offered, and refused when posted by hand, beside the select.
            refused = await post(mona, choose, agenda_template_id=gone)
            assert refused.status_code == 422, refused.text
            assert error_of(refused.text, "agenda_template_id") == NO_TEMPLATE
            assert 'aria-describedby="agenda_template_id-hint error-agenda_template_id" aria-invalid="true"' in (
                refused.text
            )
            assert (await post(mona, choose, agenda_template_id="weekly")).status_code == 422
            # The series' own template, archived since, stays chosen and keeps its prompts; saved unchanged.
            assert (await feedback.delete(f"{API}/{weekly}", headers=stack.hr_headers)).status_code == 204
            html = (await mona.get(path)).text
            assert f'<option value="{weekly}" selected>Weekly (archived)</option>' in html
            assert prompts_shown(html) == ["Wins since last time", "Blockers &amp; risks"]
            assert (await post(mona, choose, agenda_template_id=weekly)).status_code == 303

            # Another template, then none: the agenda follows.
            assert (await post(mona, choose, agenda_template_id=career)).status_code == 303
            assert prompts_shown((await emil.get(path)).text) == ["Where next?"]
            assert (await post(emil, choose, agenda_template_id="")).status_code == 303
            html = (await mona.get(path)).text
            assert FROM_TEMPLATE not in html
            assert f'<option value="{weekly}">' not in html  # archived and no longer the series' own
            assert FROM_TEMPLATE not in (await mona.get(f"{path}/meetings")).text

            # Outside the pair: the service's 404, nothing changed.
            assert (await post(una, choose, agenda_template_id=career)).status_code == 404
            assert FROM_TEMPLATE not in (await mona.get(path)).text

            # Once ended, the choice is refused above the page.
            assert (await post(mona, choose, agenda_template_id=career)).status_code == 303
            ended = await post(mona, f"{path}/end")
            assert ended.status_code == 303, ended.text
            late = await post(emil, choose, agenda_template_id="")
            assert late.status_code == 409, late.text
            assert "ended" in error_of(late.text, "_form")
            assert prompts_shown((await emil.get(f"{path}/meetings")).text, f"prompts-{meetings[0]}") == ["Where next?"]
        finally:
            for client in clients.values():
                await client.aclose()
