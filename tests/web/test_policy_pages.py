"""HR's approval policy page over the real reviews and rewards services (and NATS): only HR and admins
reach it, a deactivated HR person is refused by rewards, a cycle rewards does not know yet is said in
words, the service's 422s stand beside their fields, and what is saved is what rewards holds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import nats
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, import_csv, publish_rating, today
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, clients_of, csrf_of
from web.policy_pages import NO_PAY_CYCLE, NOT_A_NUMBER

pytestmark = pytest.mark.database


async def save(client: httpx.AsyncClient, cycle: object, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/inbox")).text)
    return await client.post(f"/hr/pay/{cycle}/policy", data={"csrf_token": token, **fields})


async def pay_cycle(stack: Stack, settings: Settings, hr: dict[str, str], person: str, manager: str) -> uuid.UUID:
    """A cycle rewards knows: one final rating (with a band, a record and a matrix behind it)."""
    rewards = stack.services["rewards"]
    await add_bands(rewards, hr, band("L1", "EUR", "40000", "50000", "60000"))

    async def imported() -> bool:
        response = await import_csv(rewards, hr, (person, "EUR", "50000.00", "L1", today() - timedelta(days=30)))
        return response.status_code == 200

    await wait_until(imported, timeout=30, message="rewards knows the people")
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    cycle = uuid.uuid4()
    nc = await nats.connect(settings.nats_url)
    try:
        await publish_rating(nc.jetstream(), cycle, Someone(uuid.UUID(person), "x", "Eng", uuid.UUID(manager)), "4")
    finally:
        await nc.close()

    async def known() -> bool:
        response = await rewards.get(f"/cycles/{cycle}", headers=hr)
        return response.status_code == 200

    await wait_until(known, timeout=20, message="rewards knows the cycle")
    return cycle


async def pay_org(
    stack: Stack, auth: TokenFactory, settings: Settings, *more_hr: str
) -> tuple[uuid.UUID, dict[str, str], dict[str, httpx.AsyncClient]]:
    """Skip Level over Mia Manager over Ada Employee (Eng), Una Unrelated (Sales), Hanna HR and
    ``more_hr`` (People), Adam Admin; a pay cycle with Ada's final rating. Returns the cycle,
    Hanna's API headers, and a browser for each person signed in (Adam's as an admin's)."""
    await stack.add_person("Skip Level", "Exec")
    mia = await stack.add_person("Mia Manager", "Eng", "Skip Level")
    ada = await stack.add_person("Ada Employee", "Eng", "Mia Manager")
    await stack.add_person("Una Unrelated", "Sales")
    hanna = await stack.add_person("Hanna HR", "People")
    for name in more_hr:
        await stack.add_person(name, "People")
    await stack.add_person("Adam Admin", "Ops")
    hr = auth(Role.hr, person_id=uuid.UUID(hanna))
    cycle = await pay_cycle(stack, settings, hr, ada, mia)
    return cycle, hr, await clients_of(stack, auth)


async def test_the_approval_policy_page_by_role(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        cycle, hr, clients = await pay_org(stack, auth, settings, "Carl Comp", "Dora Departing")
        hanna, carl, admin_id = (stack.people[name] for name in ("Hanna HR", "Carl Comp", "Adam Admin"))
        admin = clients["Adam Admin"]
        try:
            # The pay approval page links here.
            assert f'href="/hr/pay/{cycle}/policy"' in (await clients["Hanna HR"].get(f"/hr/pay/{cycle}")).text
            # Not HR: the page and the post are refused before rewards is asked.
            for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
                client = clients[name]
                assert (await client.get(f"/hr/pay/{cycle}/policy")).status_code == 403, name
                refused = await save(client, cycle, depth="2", step_hours="48")
                assert refused.status_code == 403, name
            for name in ("Hanna HR", "Adam Admin"):
                page = await clients[name].get(f"/hr/pay/{cycle}/policy")
                assert page.status_code == 200, name
                assert "No approval policy is set for this cycle" in page.text
                assert 'id="depth" name="depth" min="0" max="10" value="1"' in page.text  # rewards' default depth
            # No CSRF token.
            assert (await clients["Hanna HR"].post(f"/hr/pay/{cycle}/policy", data={"depth": "2"})).status_code == 403

            hanna_web = clients["Hanna HR"]
            # Errors: a word for a number (caught here), rewards' 422s beside their fields, an unknown cycle.
            word = await save(hanna_web, cycle, depth="two", step_hours="48")
            assert word.status_code == 422, word.text
            assert f'<p class="error" id="error-depth">{NOT_A_NUMBER}</p>' in word.text
            assert 'value="two"' in word.text
            deep = await save(
                hanna_web,
                cycle,
                depth="11",
                step_hours="0",
                **{"escalation-1-notify": "hr", "escalation-1-after_hours": "-3"},
            )
            assert deep.status_code == 422, deep.text
            for field in ("depth", "step_hours", "escalation-1-after_hours"):
                assert f'id="error-{field}"' in deep.text, field
                assert f'aria-describedby="error-{field}"' in deep.text, field
            assert 'id="error-escalation-0-after_hours"' not in deep.text  # the empty first row is not sent
            unknown = await save(hanna_web, uuid.uuid4(), depth="1", step_hours="48")
            assert unknown.status_code == 404, unknown.text
            assert NO_PAY_CYCLE in unknown.text
            assert (await hanna_web.get("/hr/pay/not-a-cycle/policy")).status_code == 404

            saved = await save(
                hanna_web,
                cycle,
                depth="2",
                final_approver_id=carl,
                step_hours="48",
                reminder_every_hours="12",
                **{
                    "escalation-0-notify": "manager",
                    "escalation-0-after_hours": "1",
                    "escalation-2-notify": "hr",
                    "escalation-2-after_hours": "24",
                },
            )
            assert saved.status_code == 303, saved.text
            assert saved.headers["location"] == f"/hr/pay/{cycle}/policy?notice=saved"
            held = await stack.services["rewards"].get(f"/cycles/{cycle}/approval-policy", headers=hr)
            policy = held.json()
            assert policy["depth"] == 2
            assert policy["final_approver_id"] == carl
            assert policy["hr_owner_id"] == hanna  # default: whoever sets it
            assert policy["step_hours"] == 48
            assert policy["reminder_every_hours"] == 12
            assert policy["escalation"] == [
                {"after_hours": 1.0, "notify": "manager"},
                {"after_hours": 24.0, "notify": "hr"},
            ]
            shown = await admin.get(saved.headers["location"])
            assert "The approval policy is saved." in shown.text
            assert "Set by Hanna HR." in shown.text
            assert 'id="depth" name="depth" min="0" max="10" value="2"' in shown.text
            assert f'<option value="{carl}" selected>Carl Comp</option>' in shown.text
            assert 'value="48"' in shown.text

            # The admin changes it too; an inactive final approver is rewards' 422 beside the field.
            dora_web = clients["Dora Departing"]
            token = csrf_of((await dora_web.get("/inbox")).text)
            gone = await stack.services["reviews"].patch(
                f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
            )
            assert gone.status_code == 200, gone.text

            async def dora_refused() -> bool:
                # Rewards learns of the deactivation from the directory's events.
                response = await dora_web.get(f"/hr/pay/{cycle}/policy")
                return response.status_code == 403

            await wait_until(dora_refused, timeout=30, message="rewards refuses the deactivated HR person")
            posted = await dora_web.post(
                f"/hr/pay/{cycle}/policy", data={"csrf_token": token, "depth": "0", "step_hours": "1"}
            )
            assert posted.status_code == 403
            inactive = await save(
                admin, cycle, depth="1", step_hours="24", final_approver_id=stack.people["Dora Departing"]
            )
            assert inactive.status_code == 422, inactive.text
            assert 'id="error-final_approver_id"' in inactive.text
            changed = await save(admin, cycle, depth="0", step_hours="24")
            assert changed.status_code == 303, changed.text
            after = (await stack.services["rewards"].get(f"/cycles/{cycle}/approval-policy", headers=hr)).json()
            assert (after["depth"], after["final_approver_id"], after["escalation"]) == (0, None, [])
            assert after["hr_owner_id"] == admin_id
        finally:
            for client in clients.values():
                await client.aclose()
