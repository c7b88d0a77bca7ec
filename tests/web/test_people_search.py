"""People pickers that reach everyone (web over the real reviews and feedback services, and NATS).

A picker lists the first 500 active people of the directory by name (web/pages.py, PICKER). In a
bigger directory the praise page, the feedback page, the feedback requests page and the new cycle
form offer a search by name or e-mail address (``people_q``): the person 501st by name is found,
chosen, and receives praise, feedback and a request, or takes part in a cycle. The search answers
each person what the directory's ``GET /people`` answers them, never more.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from shared.auth import Role
from shared.database import utcnow
from shared.settings import ServiceName, Settings
from tests.conftest import TokenFactory
from tests.directory.scim_support import user
from tests.reviews_config.builders import scale_body, template_body
from tests.support.waiting import wait_until
from tests.web.browser.conftest import ARTEFACTS, find_chromium
from tests.web.browser.support import Pages, browsing
from tests.web.conftest import Stack, StackFactory, client_of, clients_of, csrf_of, sign_in_as
from web.pages import MATCHES, PHASES, PICKER
from web.settings import WebBackend

pytestmark = pytest.mark.database

SCIM_TOKEN = "scim-provisioning-token-for-people-search-0123"
BEYOND = "Abel Beyond"  # the 501st active person by name: after the 500 fillers, before everyone else
SEARCH_LABEL = "Find people by name or e-mail"
TOO_SHORT = "Type 2 to 100 characters to find people."

# page -> the select a search fills (its name: the parameter that passes the people chosen back)
PICKERS = {
    "/praise": "receiver_ids",
    "/feedback": "receiver_ids",
    "/feedback/requests": "recipient_ids",
    "/hr/cycles/new": "include",
}
SELECT = re.compile(r'<select id="(?P<id>[^"]+)" name="[^"]+"[^>]*>(?P<options>.*?)</select>', re.DOTALL)
OPTION = re.compile(r'<option value="(?P<value>[^"]*)"(?P<selected> selected)?>(?P<name>[^<]*)</option>')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, plus a SCIM token: SCIM gives a person a second e-mail address."""
    return settings.model_copy(update={"scim_token": SCIM_TOKEN})


def options(html: str, select_id: str) -> list[tuple[str, str, bool]]:
    """(id, name, selected) of every option of the select ``select_id``."""
    found = {match["id"]: match["options"] for match in SELECT.finditer(html)}
    assert select_id in found, f"no select {select_id}"
    return [(o["value"], o["name"], bool(o["selected"])) for o in OPTION.finditer(found[select_id])]


def names_in(html: str, select_id: str) -> list[str]:
    return [name for _value, name, _selected in options(html, select_id)]


async def add_fillers(stack: Stack, count: int) -> None:
    """``count`` active people at once (the directory's bulk import), named to sort before anyone else."""
    rows = ["email,display_name,department"]
    rows += [f"filler{n:04d}@example.com,Aaron Filler {n:04d},Crowd" for n in range(1, count + 1)]
    imported = await stack.services["reviews"].post(
        "/people/import", content="\n".join(rows).encode(), headers={**stack.hr_headers, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["summary"].get("create") == count, imported.text


async def published_template(stack: Stack) -> str:
    reviews, hr = stack.services["reviews"], stack.hr_headers
    scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
    template = (await reviews.post("/templates", json=template_body(scale["id"]), headers=hr)).json()
    assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr)).status_code == 200
    return str(template["id"])


async def post_form(web: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    token = csrf_of((await web.get(page)).text)
    return await web.post(action, data={"csrf_token": token, **data})


async def synced(stack: Stack) -> None:
    """Until the feedback service's copy of the directory has caught up (its pages need the reader in it)."""

    async def sync(service: ServiceName) -> tuple[int, int]:
        found = (await stack.services[service].get("/people/sync", headers=stack.hr_headers)).json()
        return found["people"], found["versions"]

    async def caught_up() -> bool:
        return await sync("feedback") == await sync("reviews")

    await wait_until(caught_up, timeout=60, message="the feedback service caught up with the directory")


@pytest.fixture
async def crowd(web_stack: StackFactory) -> AsyncIterator[Stack]:
    """500 fillers, then Abel Beyond (the 501st by name), Emil, Hanna HR: 503 active people."""
    async with web_stack("reviews", "feedback") as stack:
        await add_fillers(stack, PICKER)
        await stack.add_person(BEYOND, "Far Away", email="abel.beyond@example.com")
        await stack.add_person("Emil Employee", "Eng")
        await stack.add_person("Hanna HR", "People")
        await synced(stack)
        yield stack


async def test_the_501st_person_is_found_and_chosen_on_every_picker(crowd: Stack) -> None:
    stack = crowd
    abel, web = stack.people[BEYOND], stack.web
    await sign_in_as(web, stack.people["Emil Employee"])

    # Without a search the pickers list the first 500 by name, and say how to find the others.
    for page, select in PICKERS.items():
        if page.startswith("/hr/"):
            continue
        html = (await web.get(page)).text
        listed = names_in(html, select)
        assert (len(listed), listed[-1]) == (PICKER, "Aaron Filler 0500"), page
        assert BEYOND not in listed, page
        assert SEARCH_LABEL in html, page
        assert "The list shows the first 500 of 503 people by name" in html, page

    # Found by a part of the name or of the address, in any case.
    for page, select in PICKERS.items():
        if page.startswith("/hr/"):
            continue
        for text in ("beyond", "ABEL.BEY", " l Bey "):
            found = await web.get(page, params={"people_q": text})
            assert found.status_code == 200, (page, text, found.text[:300])
            assert names_in(found.text, select) == [BEYOND], (page, text)
            assert f"Matches for “{text.strip()}”: 1." in found.text, (page, text)
            assert f'value="{text.strip()}"' in found.text  # the box keeps the search

    # Praise: Abel chosen from the search receives it (once the feedback service knows him).
    async def praised() -> bool:
        response = await post_form(
            web, "/praise?people_q=beyond", "/praise", {"receiver_ids": abel, "message": "Thanks for the rollout!"}
        )
        return response.status_code == 303

    await wait_until(praised, timeout=30, message="praise for the 501st person")
    assert f"→ {BEYOND}" in (await web.get("/praise")).text

    # Written feedback and a feedback request to him.
    sent = await post_form(
        web, "/feedback?people_q=beyond", "/feedback", {"receiver_ids": abel, "text": "Clear release notes."}
    )
    assert sent.status_code == 303, sent.text
    assert f"To {BEYOND}" in (await web.get("/feedback", params={"view": "given"})).text
    due = (utcnow().date() + timedelta(days=7)).isoformat()
    asked = await post_form(
        web,
        "/feedback/requests?people_q=beyond",
        "/feedback/requests",
        {"recipient_ids": abel, "due_on": due, "question": "How was the hand-over?"},
    )
    assert asked.status_code == 303, asked.text
    await sign_in_as(web, abel)
    inbox = (await web.get("/feedback/requests")).text
    assert "Emil Employee asks for your feedback" in inbox
    assert "Thanks for the rollout!" in (await web.get("/praise", params={"mine": "1"})).text
    assert "Clear release notes." in (await web.get("/feedback")).text

    # HR adds him to a new cycle by name.
    template_id = await published_template(stack)
    hanna = await client_of(stack, "Hanna HR")
    form = await hanna.get("/hr/cycles/new")
    assert BEYOND not in names_in(form.text, "include")
    assert len(names_in(form.text, "include")) == PICKER
    found = await hanna.get("/hr/cycles/new", params={"people_q": "abel.beyond@"})
    for select in ("manager_subtrees", "include", "exclude"):
        assert names_in(found.text, select) == [BEYOND], select
    day = utcnow().date()
    fields = {
        "csrf_token": csrf_of(found.text),
        "name": "Far away 2026",
        "template_id": template_id,
        "period_start": f"{day.year}-01-01",
        "period_end": f"{day.year}-12-31",
        "departments": "Eng",
        "include": [abel],
        "reminder_every_hours": "48",
        **{f"deadline_{phase}": str(day + timedelta(days=14 * (n + 1))) for n, phase in enumerate(PHASES)},
    }
    created = await hanna.post("/hr/cycles", data=fields)
    assert created.status_code == 303, created.text
    cycle = await stack.services["reviews"].get(
        f"/review-cycles/{created.headers['location'].rsplit('/', 1)[1]}", headers=stack.hr_headers
    )
    filters = {name: value for name, value in cycle.json()["filters"].items() if value}
    assert filters == {"departments": ["Eng"], "include": [abel]}
    assert cycle.json()["matching_now"] == 2  # Emil (Eng) and Abel by name


async def test_a_search_keeps_the_people_chosen_and_says_what_it_could_not_do(crowd: Stack) -> None:
    stack = crowd
    abel, web = stack.people[BEYOND], stack.web
    hanna = await client_of(stack, "Hanna HR")
    await sign_in_as(web, stack.people["Emil Employee"])

    # The people chosen come back as parameters: listed first and still selected, whatever the search
    # finds, and passed on by the next search; so is the page's own state (the praise wall's filter).
    praise = (await web.get("/praise", params={"people_q": "filler 0007", "receiver_ids": abel, "mine": "1"})).text
    assert [(name, selected) for _id, name, selected in options(praise, "receiver_ids")] == [
        (BEYOND, True),
        ("Aaron Filler 0007", False),
    ]
    assert options(praise, "receiver_ids")[0][0] == abel
    search_form = praise.split('role="search"')[1].split("</form>")[0]
    assert f'<input type="hidden" name="receiver_ids" value="{abel}">' in search_form
    assert '<input type="hidden" name="mine" value="1">' in search_form
    cycle = (await hanna.get("/hr/cycles/new", params=[("people_q", "filler 0007"), ("exclude", abel)])).text
    assert options(cycle, "exclude")[0] == (abel, BEYOND, True)
    assert options(cycle, "include")[0] == (abel, BEYOND, False)
    assert f'<input type="hidden" name="exclude" value="{abel}">' in cycle
    # What is not a person's id is left out, not an error.
    odd = await web.get("/feedback/requests", params=[("people_q", "beyond"), ("recipient_ids", "x'><b>")])
    assert odd.status_code == 200, odd.text
    assert names_in(odd.text, "recipient_ids") == [BEYOND]
    # Nobody chooses themselves: Emil is not offered to Emil, even when asked for.
    emil = stack.people["Emil Employee"]
    mine = (await web.get("/feedback", params=[("people_q", "emil"), ("receiver_ids", emil)])).text
    assert names_in(mine, "receiver_ids") == []
    assert "Matches for “emil”: 1." in mine  # the directory's count; the list leaves Emil out

    # Many matches: the first 50, and a word on it.
    many = (await web.get("/praise", params={"people_q": "filler"})).text
    assert len(names_in(many, "receiver_ids")) == MATCHES
    assert "500 people match “filler”; the list shows the first 50." in many
    none = (await web.get("/praise", params={"people_q": "zzz-nobody"})).text
    assert "Nobody matches “zzz-nobody”." in none
    assert names_in(none, "receiver_ids") == []

    # Too short or too long: a message at the box, and the usual list; not an error page.
    for page, select in PICKERS.items():
        client = hanna if page.startswith("/hr/") else web
        for text in ("a", " b ", "x" * 101, "a\x00b"):
            refused = await client.get(page, params={"people_q": text})
            assert refused.status_code == 200, (page, text, refused.text[:300])
            assert TOO_SHORT in refused.text, page
            assert 'aria-invalid="true" aria-describedby="error-people_q"' in refused.text
            assert len(names_in(refused.text, select)) == PICKER, page
        # An empty search is no search: the list again.
        empty = await client.get(page, params={"people_q": "  "})
        assert TOO_SHORT not in empty.text
        assert len(names_in(empty.text, select)) == PICKER

    # In German (the person has no locale of their own: the browser's language counts).
    german = {"accept-language": "de"}
    found = (await web.get("/praise", params={"people_q": "beyond"}, headers=german)).text
    assert 'lang="de"' in found
    assert "Personen nach Name oder E-Mail-Adresse finden" in found
    assert "Treffer für „beyond“: 1." in found
    assert names_in(found, "receiver_ids") == [BEYOND]
    listed = (await web.get("/feedback", headers=german)).text
    assert "Die Liste zeigt die ersten 500 von 503 Personen nach Namen" in listed
    short = (await hanna.get("/hr/cycles/new", params={"people_q": "a"}, headers=german)).text
    assert "Geben Sie 2 bis 100 Zeichen ein, um Personen zu finden." in short
    assert "Was Sie ins Formular eingegeben haben, steht nach einer Suche wieder darin." in short
    many_de = (await web.get("/feedback/requests", params={"people_q": "filler"}, headers=german)).text
    assert "500 Personen passen zu „filler“; die Liste zeigt die ersten 50." in many_de


def visible_match(person: dict[str, Any], text: str, *, every_address: bool) -> bool:
    """The directory's search rule: the text in the display name or an address the caller sees."""
    addresses = [e["value"] for e in person["emails"]] if every_address else [person["email"]]
    return any(text.lower() in value.lower() for value in [person["display_name"], *addresses])


async def test_the_search_answers_each_role_what_the_directory_answers_it(
    web_stack: StackFactory, auth: TokenFactory
) -> None:
    """Employee, manager, skip-level, HR, admin and an unrelated colleague each find exactly the active
    people the directory lists them whose name or visible address holds the text (an HR or admin also
    by a second address, which only they see); the pages they may not open stay closed; a deactivated
    person is refused as without a search."""
    async with web_stack("reviews", "feedback") as stack:
        reviews, hr = stack.services["reviews"], stack.hr_headers
        await stack.add_person("Skip Level", "Exec")
        await stack.add_person("Mona Manager", "Eng", "Skip Level")
        await stack.add_person("Emil Employee", "Eng", "Mona Manager")
        await stack.add_person("Una Unrelated", "Sales")
        await stack.add_person("Hanna HR", "People")
        await stack.add_person("Adam Admin", "IT")
        await stack.add_person("Liv Leaving", "Sales")
        ina = await stack.add_person("Ina Inactive", "Sales")
        scim = user("walt@example.com", displayName="Walt Worker")
        scim["emails"].append({"value": "w.private@hidden.org", "type": "home"})
        walt = await reviews.post("/scim/v2/Users", json=scim, headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
        assert walt.status_code == 201, walt.text
        await synced(stack)
        clients = await clients_of(stack, auth)
        ina_left = await reviews.patch(f"/people/{ina}", json={"active": False}, headers=hr)
        assert ina_left.status_code == 200, ina_left.text
        tokens = {
            "Skip Level": (Role.employee, Role.manager),
            "Mona Manager": (Role.employee, Role.manager),
            "Emil Employee": (Role.employee,),
            "Una Unrelated": (Role.employee,),
            "Hanna HR": (Role.employee, Role.hr),
            "Adam Admin": (Role.admin,),
        }
        searches = ["walt", "hidden.org", "example.com", "inactive", "mona"]
        for name, roles in tokens.items():
            web, me = clients[name], stack.people[name]
            every_address = bool({Role.hr, Role.admin} & set(roles))
            as_them = auth(*roles, person_id=uuid.UUID(me))
            directory = await reviews.get("/people", params={"active": "true", "limit": 500}, headers=as_them)
            assert directory.status_code == 200, directory.text
            for page, select in PICKERS.items():
                before = await web.get(page)
                for text in searches:
                    found = await web.get(page, params={"people_q": text})
                    assert found.status_code == before.status_code, (name, page, text)
                    if found.status_code != 200:
                        assert "Walt Worker" not in found.text
                        continue
                    expected = [
                        p["display_name"]
                        for p in directory.json()["items"]
                        if visible_match(p, text, every_address=every_address)
                        and (page.startswith("/hr/") or str(p["id"]) != me)
                    ]
                    assert names_in(found.text, select) == expected, (name, page, text)
                    # Only the roles that see the second address find Walt by it.
                    if text == "hidden.org":
                        assert expected == (["Walt Worker"] if every_address else []), name
            assert (before.status_code == 200) is every_address, name  # the last page: the new cycle form

        # Liv leaves: every page is refused to her with a search as without one.
        liv = clients["Liv Leaving"]
        assert (await liv.get("/praise", params={"people_q": "walt"})).status_code == 200
        gone = await reviews.patch(f"/people/{stack.people['Liv Leaving']}", json={"active": False}, headers=hr)
        assert gone.status_code == 200, gone.text

        async def refused() -> bool:
            return (await liv.get("/praise")).status_code != 200

        await wait_until(refused, timeout=15, message="Liv refused")
        for page in PICKERS:
            before = await liv.get(page)
            found = await liv.get(page, params={"people_q": "walt"})
            assert found.status_code == before.status_code != 200, page
            assert "Walt Worker" not in found.text


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip("no Chromium found: apt-get install chromium (or set MERITLOOP_CHROMIUM)")
    return found


async def sign_in_beyond(browser: Browser, base: str, name: str) -> tuple[BrowserContext, Page]:
    """The development sign-in, on its page past the 500 fillers."""
    context = await browser.new_context(base_url=base, locale="en-GB")
    page = await context.new_page()
    await page.goto(f"/signin?offset={PICKER}")
    await page.get_by_role("button", name=f"Sign in as {name}").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return context, page


@pytest.mark.timeout(600)
async def test_in_the_browser_the_search_is_a_form_of_its_own_and_passes_axe(
    crowd: Stack, settings: Settings, chromium: str, request: pytest.FixtureRequest
) -> None:
    """Chromium, without help from a script: type, press Enter, choose from the matches, send. The text
    typed into the praise form before the search comes back (drafts.js), and every page passes axe."""
    stack = crowd
    folder = ARTEFACTS / str(request.node.name)  # screenshots beside the other browser tests
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pages = Pages(folder)
    services: dict[WebBackend, httpx.AsyncClient] = {name: client for name, client in stack.services.items()}
    async with browsing(settings, chromium, services) as (browser, base):
        context, page = await sign_in_beyond(browser, base, "Emil Employee")
        await page.goto("/praise")
        await pages.check(page, "praise-first-500")
        await page.get_by_label("Message").fill("Thanks for the rollout!")
        await page.get_by_label(SEARCH_LABEL).fill("beyond")
        await page.get_by_label(SEARCH_LABEL).press("Enter")
        await expect(page.get_by_text("Matches for “beyond”: 1.")).to_be_visible()
        await expect(page.get_by_label("Message")).to_have_value("Thanks for the rollout!")
        await pages.check(page, "praise-found")
        await page.get_by_label("Who").select_option(label=BEYOND)
        await page.get_by_role("button", name="Give praise").click()
        await expect(page.get_by_role("status")).to_contain_text("praise is on the wall")

        for address, name in (("/feedback", "feedback"), ("/feedback/requests", "requests")):
            await page.goto(address)
            await page.get_by_label(SEARCH_LABEL).fill("a")
            await page.get_by_role("button", name="Find", exact=True).click()
            await expect(page.get_by_text(TOO_SHORT)).to_be_visible()
            await pages.check(page, f"{name}-too-short")
            await page.get_by_label(SEARCH_LABEL).fill("abel.beyond")
            await page.get_by_role("button", name="Find", exact=True).click()
            await expect(page.get_by_text("Matches for “abel.beyond”: 1.")).to_be_visible()
            await pages.check(page, f"{name}-found")
        await context.close()

        context, hr = await sign_in_beyond(browser, base, "Hanna HR")
        await hr.goto("/hr/cycles/new")
        await hr.get_by_label(SEARCH_LABEL).fill("beyond")
        await hr.get_by_label(SEARCH_LABEL).press("Enter")
        await expect(hr.get_by_label("Also these people")).to_contain_text(BEYOND)
        await pages.check(hr, "cycle-new-found")
        await context.close()
    assert pages.violations == [], pages.violations
