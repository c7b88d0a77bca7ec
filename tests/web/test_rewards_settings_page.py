"""HR's rewards settings page over the real reviews and rewards services (and NATS): the defaults in plain
words, a save that rewards holds and the page shows with who made it, a post that holds only some fields
leaves the others as they are, words for numbers and rewards' refusals beside their fields with nothing
stored, the calibration page's link to it, the page in German; only HR and admins reach it, and rewards
refuses an HR person deactivated while signed in."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.rewards.policy.schemas import BudgetMode, Control
from services.rewards.schemas import Attribute
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session
from tests.web.conftest import Stack, StackFactory, clients_of, csrf_of, deactivate_dora, sign_in_as, web_client
from tests.web.conftest import hr_org as org
from web.i18n import Formatter
from web.rewards_settings_pages import (
    ATTRIBUTES,
    BUDGET_MODES,
    CONTROLS,
    NOT_A_NUMBER,
    NOT_A_WHOLE_NUMBER,
    plain_percent,
)

pytestmark = pytest.mark.database

PAGE = "/hr/rewards-settings"
EN = Formatter("en", None)
DEFAULTS = {
    "min_cell_size": 5,
    "equity_flag_pct": Decimal(5),
    "equity_controls": ["job_level", "location", "tenure"],
    "budget_mode": "block",
    "impact_attributes": ["gender"],
}


def test_the_form_offers_what_rewards_takes() -> None:
    assert tuple(control.value for control in Control) == CONTROLS
    assert set(ATTRIBUTES) == {attribute.value for attribute in Attribute}
    assert tuple(mode.value for mode in BudgetMode) == BUDGET_MODES
    assert plain_percent("5.00") == "5"
    assert plain_percent("7.50") == "7.5"
    assert plain_percent("0.25") == "0.25"
    assert plain_percent("100.00") == "100"


async def save(client: httpx.AsyncClient, **fields: str | list[str]) -> httpx.Response:
    token = csrf_of((await client.get("/inbox")).text)
    return await client.post(PAGE, data={"csrf_token": token, **fields})


def form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    """The whole form as the page posts it (each list with its empty hidden field), with ``changes``."""
    fields: dict[str, str | list[str]] = {
        "min_cell_size": "5",
        "equity_flag_pct": "5",
        "equity_controls": ["", "job_level", "location", "tenure"],
        "budget_mode": "block",
        "impact_attributes": ["", "gender"],
    }
    return {**fields, **changes}


async def stored(stack: Stack) -> dict[str, Any]:
    found = await stack.services["rewards"].get("/rewards-policy", headers=stack.hr_headers)
    assert found.status_code == 200, found.text
    policy: dict[str, Any] = found.json()
    return policy


def settings_of(policy: dict[str, Any]) -> dict[str, Any]:
    """The settings of rewards' answer, the percentage as a number (rewards writes 5 or 5.00)."""
    return {key: Decimal(policy[key]) if key == "equity_flag_pct" else policy[key] for key in DEFAULTS}


def current(html: str) -> str:
    """The part of the page that says what is in force (before the form)."""
    return html.split('id="current-heading"', 1)[1].split('id="change-heading"', 1)[0]


def error_of(html: str, field: str) -> str:
    parts = html.split(f'<p class="error" id="error-{field}">', 1)
    assert len(parts) == 2, (field, html)
    return parts[1].split("</p>", 1)[0]


async def test_hr_sees_and_changes_the_rewards_settings(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        clients = await org(stack, auth)
        hanna = clients["Hanna HR"]

        # The defaults, in words; the navigation marks the page.
        page = await hanna.get(PAGE)
        assert page.status_code == 200, page.text
        html = page.text
        assert '<a href="/hr/rewards-settings" aria-current="page">Rewards settings</a>' in html
        assert "Nobody has changed them yet: these are the defaults." in html
        now = current(html)
        assert "Minimum cell size: 5 people" in now
        assert "fewer than 5 women or fewer than 5 men is not shown" in now
        assert "Pay gap flagged from: 5 %" in now
        assert "is 5 % or more, either way, is flagged" in now
        assert "job level, location, years since hire (tenure): the adjusted gap compares" in now
        assert "Over budget: block" in now
        assert "takes a unit over its merit or bonus budget is refused." in now
        assert "gender: the calibration page compares" in now
        assert 'name="min_cell_size" min="5" max="1000" step="1" value="5"' in html
        assert 'name="equity_flag_pct" min="0.01" max="100" step="0.01" value="5"' in html
        for name in ("job_level", "location", "tenure"):
            assert f'name="equity_controls" value="{name}" checked>' in html, name
        for name in ("job_family", "worker_category", "employment_type", "fte"):
            assert f'name="equity_controls" value="{name}">' in html, name
        assert 'name="budget_mode" value="block" checked>' in html
        assert 'name="budget_mode" value="warn">' in html
        assert 'name="impact_attributes" value="gender" checked>' in html
        assert 'name="impact_attributes" value="location">' in html
        assert settings_of(await stored(stack)) == DEFAULTS

        # Saved (a decimal comma is read as a point): rewards holds it, the page shows it and who changed it.
        changed = form(
            min_cell_size="7",
            equity_flag_pct="4,5",
            equity_controls=["", "job_level", "job_family", "fte"],
            budget_mode="warn",
            impact_attributes=["", "gender", "location"],
        )
        saved = await save(hanna, **changed)
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{PAGE}?notice=saved"
        policy = await stored(stack)
        assert settings_of(policy) == {
            "min_cell_size": 7,
            "equity_flag_pct": Decimal("4.5"),
            "equity_controls": ["job_level", "job_family", "fte"],
            "budget_mode": "warn",
            "impact_attributes": ["gender", "location"],
        }
        assert policy["updated_by"] == stack.people["Hanna HR"]
        page = await hanna.get(saved.headers["location"])
        html = page.text
        assert '<p class="notice" role="status">The rewards settings are saved.' in html
        assert f"Last changed by Hanna HR on {EN.datetime(policy['modified_at'])}." in html
        now = current(html)
        assert "Minimum cell size: 7 people" in now
        assert "Pay gap flagged from: 4.5 %" in now
        assert "job level, job family, working time (FTE): the adjusted gap" in now
        assert "Over budget: warn" in now
        assert "is accepted when it gives a reason, and is shown as a warning." in now
        assert "gender, location: the calibration page compares" in now
        assert 'step="1" value="7"' in html
        assert 'step="0.01" value="4.5"' in html
        assert 'name="equity_controls" value="fte" checked>' in html
        assert 'name="equity_controls" value="tenure">' in html
        assert 'name="budget_mode" value="warn" checked>' in html
        assert 'name="impact_attributes" value="location" checked>' in html

        # A post that holds only the cell size changes only that; lowering it to the floor of 5 is allowed.
        assert (await save(hanna, min_cell_size="6")).status_code == 303
        assert settings_of(await stored(stack)) == {**settings_of(policy), "min_cell_size": 6}
        assert (await save(hanna, min_cell_size="5")).status_code == 303
        assert (await stored(stack))["min_cell_size"] == 5

        # No control ticked: the adjusted gap controls for nothing.
        assert (await save(hanna, **form(equity_controls=[""]))).status_code == 303
        assert (await stored(stack))["equity_controls"] == []
        now = current((await hanna.get(PAGE)).text)
        assert "nothing: the adjusted gap is the plain gap between women and men." in now
        assert (await save(hanna, **form())).status_code == 303
        assert settings_of(await stored(stack)) == DEFAULTS
        before = await stored(stack)

        # Refused beside the field, what was typed kept, nothing stored: words for numbers (here), a cell
        # size of 4, a flag of 0, over 100 or with 3 decimals, an unknown control or mode, no attribute (rewards).
        typed: dict[str, str | list[str]] = {
            "equity_flag_pct": "9",
            "budget_mode": "warn",
            "impact_attributes": ["", "gender", "job_family"],
        }
        refusals: tuple[tuple[str, str | list[str], str], ...] = (
            ("min_cell_size", "abc", NOT_A_NUMBER),
            ("min_cell_size", "", NOT_A_NUMBER),
            ("min_cell_size", "5.5", NOT_A_WHOLE_NUMBER),
            ("min_cell_size", "4", "greater than or equal to 5"),
            ("min_cell_size", "1001", "less than or equal to 1000"),
            ("equity_flag_pct", "abc", NOT_A_NUMBER),
            ("equity_flag_pct", "nan", NOT_A_NUMBER),
            ("equity_flag_pct", "0", "greater than 0"),
            ("equity_flag_pct", "100.5", "less than or equal to 100"),
            ("equity_flag_pct", "1.234", "decimal places"),
            ("equity_controls", ["", "job_level", "salary"], "job_level"),
            ("budget_mode", "maybe", "&#39;block&#39; or &#39;warn&#39;"),
            ("impact_attributes", [""], "at least 1 item"),
        )
        for field, wrong, said in refusals:
            refused = await save(hanna, **form(**{**typed, field: wrong}))
            assert refused.status_code == 422, (field, wrong, refused.text)
            assert said in error_of(refused.text, field), (field, wrong)
            assert f'aria-invalid="true" aria-describedby="error-{field}"' in refused.text or (
                f'aria-describedby="{field}-hint error-{field}" aria-invalid="true"' in refused.text
            ), (field, wrong)
            if field in ("min_cell_size", "equity_flag_pct") and wrong:
                assert f'value="{wrong}"' in refused.text, (field, wrong)
            if field != "equity_flag_pct":
                assert 'step="0.01" value="9"' in refused.text, (field, wrong)  # the rest as typed, too
            if field != "budget_mode":
                assert 'name="budget_mode" value="warn" checked>' in refused.text, (field, wrong)
            if field != "impact_attributes":
                assert 'name="impact_attributes" value="job_family" checked>' in refused.text, (field, wrong)
            assert await stored(stack) == before, (field, wrong)
        # The form kept the ticks it came with, and says what stays in force.
        no_attribute = await save(hanna, **form(impact_attributes=[""]))
        assert 'name="impact_attributes" value="gender">' in no_attribute.text
        assert "gender: the calibration page compares" in current(no_attribute.text)

        # Without the CSRF token: 403, nothing stored.
        forged = await hanna.post(PAGE, data=form(min_cell_size="9"))
        assert forged.status_code == 403
        assert await stored(stack) == before


async def test_only_hr_and_admins_reach_the_rewards_settings(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        clients = await org(stack, auth)

        # Not HR (the employee, her manager, the skip-level, a colleague): refused before rewards is asked,
        # the page and the post; the navigation does not offer it.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            client = clients[name]
            assert (await client.get(PAGE)).status_code == 403, name
            assert (await save(client, **form(min_cell_size="8"))).status_code == 403, name
            assert 'href="/hr/rewards-settings"' not in (await client.get("/inbox")).text, name
        assert settings_of(await stored(stack)) == DEFAULTS

        # HR and admins: the page (linked in the navigation) and a change.
        for name in ("Hanna HR", "Adam Admin"):
            page = await clients[name].get(PAGE)
            assert page.status_code == 200, name
            assert 'href="/hr/rewards-settings"' in (await clients[name].get("/inbox")).text, name
        by_admin = await save(clients["Adam Admin"], **form(min_cell_size="8"))
        assert by_admin.status_code == 303, by_admin.text
        policy = await stored(stack)
        assert policy["min_cell_size"] == 8
        assert policy["updated_by"] == stack.people["Adam Admin"]
        assert "Last changed by Adam Admin on" in (await clients["Hanna HR"].get(PAGE)).text

        # Signed out: to the sign-in, and back afterwards.
        signed_out = await web_client(stack.app).get(PAGE)
        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == "/signin?next=/hr/rewards-settings"

        # HR who left while signed in: rewards refuses her once it learns of it, the page and the post.
        dora = clients["Dora Departing"]
        assert (await dora.get(PAGE)).status_code == 200
        token = await deactivate_dora(stack, dora, PAGE)
        changed = await dora.post(PAGE, data={"csrf_token": token, **form(min_cell_size="12")})
        assert changed.status_code == 403, changed.text
        assert (await stored(stack))["min_cell_size"] == 8
        as_dora = auth(Role.hr, person_id=uuid.UUID(stack.people["Dora Departing"]))
        assert (await stack.services["rewards"].get("/rewards-policy", headers=as_dora)).status_code == 403


async def test_the_rewards_settings_in_german(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        await stack.add_person("Greta Geld", "People", locale="de-DE")
        greta = (await clients_of(stack, auth))["Greta Geld"]
        de = Formatter("de", None)

        page = await greta.get(PAGE)
        assert page.status_code == 200, page.text
        assert '<html lang="de">' in page.text
        assert '<a href="/hr/rewards-settings" aria-current="page">Vergütungseinstellungen</a>' in page.text
        assert "<h1>Vergütungseinstellungen</h1>" in page.text
        assert "Noch hat niemand sie geändert: Das sind die Voreinstellungen." in page.text
        assert "Mindestgröße einer Zelle: 5 Personen" in page.text
        assert "Betriebszugehörigkeit" in page.text

        wrong = await save(greta, **form(min_cell_size="fünf"))
        assert wrong.status_code == 422
        assert "Geben Sie eine Zahl ein." in error_of(wrong.text, "min_cell_size")

        saved = await save(greta, **form(equity_flag_pct="7,5", budget_mode="warn"))
        assert saved.status_code == 303, saved.text
        page = await greta.get(saved.headers["location"])
        policy = await stored(stack)
        assert "Die Vergütungseinstellungen sind gespeichert." in page.text
        assert f"Zuletzt geändert von Greta Geld am {de.datetime(policy['modified_at'])}." in page.text
        assert "Entgeltlücke markiert ab: 7,5 %" in page.text
        assert "Über dem Budget: warnen" in page.text
        assert "Einstellungen speichern" in page.text


async def test_the_calibration_page_links_to_the_impact_attributes(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        seeded = await Seeded(stack.services["reviews"], auth, settings).build()
        await seeded.set_cycle(phase="calibration")
        session_id = await open_session(seeded)
        await sign_in_as(stack.web, await stack.add_person("Hanna HR", "People"))
        page = await stack.web.get(f"/hr/calibration/{session_id}")
        assert page.status_code == 200, page.text
        consequences = page.text.split('id="pay-heading"', 1)[1]
        assert (
            '<a href="/hr/rewards-settings#impact-attributes">Change what the adverse-impact check groups people by</a>'
        ) in consequences
        settings_page = await stack.web.get(PAGE)
        assert 'id="impact-attributes"' in settings_page.text
