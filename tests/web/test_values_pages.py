"""HR's page of company values and competencies over the real reviews and feedback services (and NATS): HR adds,
renames, describes, archives and restores the entries of both lists, each list paged on its own and a post coming
back to the pages HR was on; a name another entry of the list has (in any case) is refused beside the name with what
was typed kept and nothing stored; only HR and admins reach the page and its posts, and feedback refuses an HR person
deactivated while signed in. On the feedback pages the current competencies are offered, feedback and answers about
one name it (archived later, still), and an archived one posted by hand is refused beside the select."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, csrf_of, deactivate_dora, web_client
from tests.web.conftest import hr_org as org
from web.values_pages import COMPANY_VALUES, COMPETENCIES, ENTER_A_NAME, NO_SUCH_ENTRY

pytestmark = pytest.mark.database

PAGE = "/hr/values"
ARCHIVED = "(archived: nobody can choose it)"


async def post(client: httpx.AsyncClient, address: str, /, **fields: str) -> httpx.Response:
    """A form's post with the session's CSRF token (positional: a form may have a field named ``action``)."""
    token = csrf_of((await client.get("/inbox")).text)
    return await client.post(address, data={"csrf_token": token, **fields})


async def stored(stack: Stack, kind: str) -> dict[str, dict[str, Any]]:
    """The entries of a list as feedback holds them, archived ones too, by name."""
    found = await stack.services["feedback"].get(
        f"/{kind}", params={"include_archived": "true", "limit": 200}, headers=stack.hr_headers
    )
    assert found.status_code == 200, found.text
    return {str(entry["name"]): entry for entry in found.json()["items"]}


async def add_directly(stack: Stack, kind: str, name: str) -> str:
    added = await stack.services["feedback"].post(f"/{kind}", json={"name": name}, headers=stack.hr_headers)
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def error_of(html: str, field: str) -> str:
    parts = html.split(f'<p class="error" id="error-{field}">', 1)
    assert len(parts) == 2, (field, html)
    return parts[1].split("</p>", 1)[0]


def section(html: str, kind: str) -> str:
    """The part of the page about one list."""
    return html.split(f'<section aria-labelledby="{kind}-heading"', 1)[1].split("</section>", 1)[0]


def notice_of(html: str) -> str:
    return html.split('<p class="notice" role="status">', 1)[1].split("</p>", 1)[0]


@pytest.mark.parametrize(
    ("kind", "name", "description", "other_list"),
    [
        ("company-values", "Ownership", "We see things through.", "competencies"),
        ("competencies", "Communication", "Says what matters, clearly & kindly.", "company-values"),
    ],
)
async def test_hr_keeps_a_list(
    web_stack: StackFactory, auth: TokenFactory, kind: str, name: str, description: str, other_list: str
) -> None:
    async with web_stack("reviews", "feedback") as stack:
        hanna = (await org(stack, auth))["Hanna HR"]
        catalogue = {"company-values": COMPANY_VALUES, "competencies": COMPETENCIES}[kind]

        # Empty lists; the navigation marks the page.
        page = await hanna.get(PAGE)
        assert page.status_code == 200, page.text
        assert '<a href="/hr/values" aria-current="page">Company values and competencies</a>' in page.text
        assert "There are no company values yet." in page.text
        assert "There are no competencies yet." in page.text

        # Added (spaces at either end left out): feedback holds it, the notice names it, the list shows it.
        added = await post(hanna, f"{PAGE}/{kind}", name=f"  {name} ", description=description)
        assert added.status_code == 303, added.text
        entry = (await stored(stack, kind))[name]
        assert entry["description"] == description
        assert entry["archived"] is False
        assert added.headers["location"] == f"{PAGE}?notice=added&kind={kind}&entry={entry['id']}"
        html = (await hanna.get(added.headers["location"])).text
        assert notice_of(html) == f"“{name}” is added: people can choose it from now on."
        mine = section(html, kind)
        assert f"<h3>{name}</h3>" in mine
        assert f"<p>{description.replace('&', '&amp;')}</p>" in mine
        assert f'action="{PAGE}/{kind}/{entry["id"]}"' in mine
        assert f'action="{PAGE}/{kind}/{entry["id"]}/archive"' in mine
        assert f"<h3>{name}</h3>" not in section(html, other_list)
        assert await stored(stack, other_list) == {}

        # Renamed, the description emptied (removed).
        renamed = f"{name} and care"
        saved = await post(hanna, f"{PAGE}/{kind}/{entry['id']}", name=renamed, description="")
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{PAGE}?notice=saved&kind={kind}&entry={entry['id']}"
        assert (await stored(stack, kind))[renamed]["description"] is None
        assert notice_of((await hanna.get(saved.headers["location"])).text) == f"“{renamed}” is saved."

        # A name the list has, in another case: refused beside the name, what was typed kept, nothing stored.
        before = await stored(stack, kind)
        twice = await post(hanna, f"{PAGE}/{kind}", name=renamed.upper(), description="Typed, not lost.")
        assert twice.status_code == 409, twice.text
        assert error_of(twice.text, f"{kind}-name") == catalogue.name_taken
        assert f'value="{renamed.upper()}" aria-invalid="true" aria-describedby="error-{kind}-name"' in twice.text
        assert ">Typed, not lost.</textarea>" in twice.text
        assert await stored(stack, kind) == before
        # The other list may have the name.
        elsewhere = await post(hanna, f"{PAGE}/{other_list}", name=renamed, description="")
        assert elsewhere.status_code == 303, elsewhere.text
        # Renaming another entry to it: refused beside that entry's name, its form open.
        second = await add_directly(stack, kind, "Second")
        clash = await post(hanna, f"{PAGE}/{kind}/{second}", name=renamed.lower(), description="Mine")
        assert clash.status_code == 409, clash.text
        assert error_of(clash.text, f"{second}-name") == catalogue.name_taken
        assert f'autocomplete="off" value="{renamed.lower()}" aria-invalid="true"' in clash.text
        assert "<details open><summary>Rename or describe Second</summary>" in clash.text
        assert f'id="{second}-description" name="description" rows="2" maxlength="1000">Mine</textarea>' in clash.text
        assert (await stored(stack, kind))["Second"]["description"] is None

        # No name: refused before feedback is asked; too long a name: feedback's 422, beside it.
        blank = await post(hanna, f"{PAGE}/{kind}", name="   ", description="Kept")
        assert blank.status_code == 422, blank.text
        assert error_of(blank.text, f"{kind}-name") == ENTER_A_NAME
        long = await post(hanna, f"{PAGE}/{kind}", name="x" * 101, description="")
        assert long.status_code == 422, long.text
        assert "100" in error_of(long.text, f"{kind}-name")
        too_much = await post(hanna, f"{PAGE}/{kind}/{second}", name="Second", description="y" * 1001)
        assert too_much.status_code == 422, too_much.text
        assert "1000" in error_of(too_much.text, f"{second}-description")
        assert set(await stored(stack, kind)) == {renamed, "Second"}

        # Archived: marked, offered to be restored; restored: as before. Twice changes nothing.
        for _ in range(2):
            archived = await post(hanna, f"{PAGE}/{kind}/{entry['id']}/archive")
            assert archived.status_code == 303, archived.text
        assert (await stored(stack, kind))[renamed]["archived"] is True
        html = (await hanna.get(archived.headers["location"])).text
        assert notice_of(html).startswith(f"“{renamed}” is archived: nobody can choose it any more")
        assert f'<h3>{renamed} <span class="muted">{ARCHIVED}</span></h3>' in section(html, kind)
        assert f'action="{PAGE}/{kind}/{entry["id"]}/restore"' in html
        restored = await post(hanna, f"{PAGE}/{kind}/{entry['id']}/restore")
        assert restored.status_code == 303, restored.text
        assert (await stored(stack, kind))[renamed]["archived"] is False
        html = (await hanna.get(restored.headers["location"])).text
        assert notice_of(html) == f"“{renamed}” is restored: people can choose it again."
        assert ARCHIVED not in section(html, kind)
        # A notice the entry no longer bears out says nothing.
        assert '<p class="notice"' not in (await hanna.get(archived.headers["location"])).text

        # What is not an entry of the page: 404, nothing asked; no CSRF token: 403.
        assert (await post(hanna, f"{PAGE}/skills", name="Typing")).status_code == 404
        unknown = await post(hanna, f"{PAGE}/{kind}/not-an-id", name="Typing")
        assert unknown.status_code == 404
        assert NO_SUCH_ENTRY in unknown.text
        assert (await post(hanna, f"{PAGE}/{kind}/{uuid.uuid4()}/archive")).status_code == 404
        forged = await hanna.post(f"{PAGE}/{kind}", data={"name": "Forged"})
        assert forged.status_code == 403
        assert "Forged" not in await stored(stack, kind)


async def test_each_list_pages_on_its_own(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        hanna = (await org(stack, auth))["Hanna HR"]
        for number in range(22):
            await add_directly(stack, "company-values", f"Value {number:02}")
        for number in range(3):
            await add_directly(stack, "competencies", f"Skill {number}")

        html = (await hanna.get(PAGE)).text
        values = section(html, "company-values")
        assert "<span>1\N{EN DASH}20 of 22</span>" in values
        assert '<a href="/hr/values?&values_offset=20">Next page</a>' in values
        assert "Value 19" in values
        assert "Value 20" not in values
        assert 'class="paging"' not in section(html, "competencies")

        # The second page of values; the competencies' paging (none here) and every form keep it.
        html = (await hanna.get(f"{PAGE}?values_offset=20")).text
        values = section(html, "company-values")
        assert "Value 21" in values
        assert "Value 00" not in values
        assert '<a href="/hr/values?&values_offset=0">Previous page</a>' in values
        assert html.count('<input type="hidden" name="values_offset" value="20">') == 2 + 2 * 2 + 3 * 2
        archived = await post(
            hanna,
            f"{PAGE}/company-values/{(await stored(stack, 'company-values'))['Value 21']['id']}/archive",
            values_offset="20",
        )
        assert archived.status_code == 303, archived.text
        assert archived.headers["location"].endswith("&values_offset=20")
        assert "Value 21" in section((await hanna.get(archived.headers["location"])).text, "company-values")
        # Refused from the second page: the page again at the second page.
        refused = await post(hanna, f"{PAGE}/competencies", name="skill 0", values_offset="20")
        assert refused.status_code == 409, refused.text
        assert "Value 21" in section(refused.text, "company-values")
        # An offset a form should not carry is the first page.
        odd = await post(hanna, f"{PAGE}/competencies", name="Skill 3", values_offset="-5", competencies_offset="x")
        assert odd.status_code == 303, odd.text
        assert "offset" not in odd.headers["location"]


async def test_only_hr_and_admins_keep_the_lists(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await org(stack, auth)
        value = await add_directly(stack, "company-values", "Ownership")
        before = await stored(stack, "company-values")

        # Not HR (the employee, her manager, the skip-level, a colleague elsewhere): refused before feedback is
        # asked, the page and every post; the navigation does not offer it.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            client = clients[name]
            assert (await client.get(PAGE)).status_code == 403, name
            assert (await post(client, f"{PAGE}/company-values", name=f"By {name}")).status_code == 403, name
            assert (await post(client, f"{PAGE}/company-values/{value}", name="Taken over")).status_code == 403, name
            assert (await post(client, f"{PAGE}/company-values/{value}/archive")).status_code == 403, name
            assert (await post(client, f"{PAGE}/competencies", name=f"By {name}")).status_code == 403, name
            assert 'href="/hr/values"' not in (await client.get("/inbox")).text, name
        assert await stored(stack, "company-values") == before
        assert await stored(stack, "competencies") == {}

        # HR and admins: the page, linked in the navigation, and its posts.
        for name in ("Hanna HR", "Adam Admin"):
            client = clients[name]
            assert (await client.get(PAGE)).status_code == 200, name
            assert 'href="/hr/values"' in (await client.get("/inbox")).text, name
            added = await post(client, f"{PAGE}/competencies", name=f"By {name}")
            assert added.status_code == 303, (name, added.text)
        assert set(await stored(stack, "competencies")) == {"By Hanna HR", "By Adam Admin"}
        archived = await post(clients["Adam Admin"], f"{PAGE}/company-values/{value}/archive")
        assert archived.status_code == 303, archived.text
        assert (await stored(stack, "company-values"))["Ownership"]["archived"] is True

        # Signed out: to the sign-in, and back afterwards.
        signed_out = await web_client(stack.app).get(PAGE)
        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == "/signin?next=/hr/values"

        # HR who left while signed in: feedback refuses her once it learns of it, the page and the posts.
        dora = clients["Dora Departing"]
        assert (await dora.get(PAGE)).status_code == 200
        token = await deactivate_dora(stack, dora, PAGE)
        for action, fields in (
            (f"{PAGE}/competencies", {"name": "By Dora"}),
            (f"{PAGE}/company-values/{value}", {"name": "Renamed by Dora"}),
            (f"{PAGE}/company-values/{value}/restore", {}),
        ):
            refused = await dora.post(action, data={"csrf_token": token, **fields})
            assert refused.status_code == 403, (action, refused.text)
        assert set(await stored(stack, "competencies")) == {"By Hanna HR", "By Adam Admin"}
        assert (await stored(stack, "company-values"))["Ownership"]["archived"] is True
        as_dora = auth(Role.hr, person_id=uuid.UUID(stack.people["Dora Departing"]))
        assert (await stack.services["feedback"].get("/competencies", headers=as_dora)).status_code == 403


async def test_feedback_about_a_competency(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await org(stack, auth)
        hanna, una, ada = clients["Hanna HR"], clients["Una Unrelated"], clients["Ada Employee"]
        for name in ("Communication", "Craft"):
            assert (await post(hanna, f"{PAGE}/competencies", name=name)).status_code == 303
        competencies = await stored(stack, "competencies")
        communication, craft = competencies["Communication"]["id"], competencies["Craft"]["id"]
        assert (await post(hanna, f"{PAGE}/competencies/{craft}/archive")).status_code == 303

        # The give form offers the current competencies only.
        form = (await una.get("/feedback")).text
        assert '<label for="competency_id">Competency it is about (optional)</label>' in form
        assert '<option value="">no particular competency</option>' in form
        assert f'<option value="{communication}">Communication</option>' in form
        assert craft not in form

        # Feedback about one: its giver and its receiver read which (the receiver once feedback knows her).
        async def given() -> httpx.Response | None:
            response = await post(
                una,
                "/feedback",
                receiver_ids=stack.people["Ada Employee"],
                text="Your incident write-up was clear.",
                competency_id=communication,
            )
            return response if response.status_code == 303 else None

        await wait_until(given, timeout=30, message="feedback given")
        assert "Competency: Communication" in (await una.get("/feedback?view=given")).text
        assert "Competency: Communication" in (await ada.get("/feedback")).text

        # An archived competency posted by hand: refused beside the select, the text kept, nothing given.
        stale = await post(
            una, "/feedback", receiver_ids=stack.people["Ada Employee"], text="Lovely code.", competency_id=craft
        )
        assert stale.status_code == 422, stale.text
        assert error_of(stale.text, "competency_id")
        assert 'name="competency_id" aria-invalid="true" aria-describedby="error-competency_id"' in stale.text
        assert ">Lovely code.</textarea>" in stale.text
        assert craft not in stale.text.split('id="competency_id"', 1)[1].split("</select>", 1)[0]
        assert "Lovely code." not in (await ada.get("/feedback")).text

        # A request answered about a competency: offered the current ones, an archived one refused beside it.
        due = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()

        async def asked() -> bool:
            response = await post(ada, "/feedback/requests", recipient_ids=stack.people["Una Unrelated"], due_on=due)
            return response.status_code == 303

        await wait_until(asked, timeout=30, message="feedback asked")
        inbox = (await una.get("/feedback/requests")).text
        request_id = inbox.split('action="/feedback/requests/', 1)[1].split("/answer", 1)[0]
        assert f'<label for="competency-{request_id}">Competency it is about (optional)</label>' in inbox
        assert f'<option value="{communication}">Communication</option>' in inbox
        assert craft not in inbox
        answer = f"/feedback/requests/{request_id}/answer"
        refused = await post(una, answer, action="answer", text="Calm under pressure.", competency_id=craft)
        assert refused.status_code == 422, refused.text
        assert error_of(refused.text, f"competency-{request_id}")
        assert f'aria-invalid="true" aria-describedby="error-competency-{request_id}"' in refused.text
        assert ">Calm under pressure.</textarea>" in refused.text
        answered = await post(una, answer, action="answer", text="Calm under pressure.", competency_id=communication)
        assert answered.status_code == 303, answered.text
        received = (await ada.get("/feedback")).text
        assert received.count("Competency: Communication") == 2

        # Archived later: the feedback still names it, and the form has nothing to offer.
        assert (await post(hanna, f"{PAGE}/competencies/{communication}/archive")).status_code == 303
        assert (await ada.get("/feedback")).text.count("Competency: Communication") == 2
        assert 'id="competency_id"' not in (await una.get("/feedback")).text
