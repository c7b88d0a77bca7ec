"""HR writes a finalized cycle's new salaries from the pay approval page (web over reviews and rewards)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.rewards.support import today
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, client_of, csrf_of
from tests.web.test_policy_pages import pay_cycle, pay_org

pytestmark = pytest.mark.database


async def test_hr_writes_the_new_salaries_from_a_date_once_the_cycle_is_finalized(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        mia = await stack.add_person("Mia Manager", "Eng")
        ada = await stack.add_person("Ada Employee", "Eng", "Mia Manager")
        await stack.add_person("Una Unrelated", "Sales")
        hanna = await stack.add_person("Hanna HR", "People")
        hr = auth(Role.hr, person_id=uuid.UUID(hanna))
        rewards = stack.services["rewards"]
        cycle = await pay_cycle(stack, settings, hr, ada, mia)
        clients = {name: await client_of(stack, name) for name in stack.people}
        hanna_web = clients["Hanna HR"]
        page = f"/hr/pay/{cycle}"

        # Before every unit is approved there is nothing to write, and no form.
        assert "Write the new salaries" not in (await hanna_web.get(page)).text
        as_mia = auth(Role.manager, person_id=uuid.UUID(mia))
        submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)
        assert submitted.json()["submitted"] == 1, submitted.text
        token = csrf_of((await hanna_web.get(page)).text)
        later = today() + timedelta(days=30)
        early = await hanna_web.post(f"{page}/pay-changes", data={"csrf_token": token, "effective_date": str(later)})
        assert early.status_code == 409, early.text
        assert "not finalized" in early.text
        approved = await hanna_web.post(f"{page}/Eng/approve", data={"csrf_token": token})
        assert approved.status_code == 303, approved.text

        shown = await hanna_web.get(page)
        assert "Write the new salaries" in shown.text
        assert 'name="effective_date" type="date"' in shown.text
        # Not HR: refused before rewards is asked.
        for name in ("Ada Employee", "Mia Manager", "Una Unrelated"):
            client = clients[name]
            own = csrf_of((await client.get("/inbox")).text)
            refused = await client.post(f"{page}/pay-changes", data={"csrf_token": own, "effective_date": str(later)})
            assert refused.status_code == 403, name
        # No CSRF token: refused.
        assert (await hanna_web.post(f"{page}/pay-changes", data={"effective_date": str(later)})).status_code == 403

        # A date before the pay it raises is rewards' 422, shown beside the field with what was typed.
        past = today() - timedelta(days=40)
        bad = await hanna_web.post(f"{page}/pay-changes", data={"csrf_token": token, "effective_date": str(past)})
        assert bad.status_code == 422, bad.text
        assert 'id="error-effective_date"' in bad.text
        assert f'value="{past}"' in bad.text
        empty = await hanna_web.post(f"{page}/pay-changes", data={"csrf_token": token, "effective_date": ""})
        assert empty.status_code == 422, empty.text

        written = await hanna_web.post(f"{page}/pay-changes", data={"csrf_token": token, "effective_date": str(later)})
        assert written.status_code == 303, written.text
        notice = await hanna_web.get(written.headers["location"])
        assert "1 written, 0 left as they are" in notice.text
        records = (await rewards.get(f"/compensation/{ada}/history", headers=hr)).json()["records"]
        newest = max(records, key=lambda record: str(record["effective_date"]))
        assert newest["effective_date"] == str(later)
        assert Decimal(str(newest["base_salary"])) > Decimal(50000)

        # Pressed again: nothing new, the page says so the same way.
        again = await hanna_web.post(f"{page}/pay-changes", data={"csrf_token": token, "effective_date": str(later)})
        assert "1 written, 0 left" in (await hanna_web.get(again.headers["location"])).text
        assert len((await rewards.get(f"/compensation/{ada}/history", headers=hr)).json()["records"]) == 2


async def test_hr_returns_a_units_submitted_proposals_with_a_reason(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        cycle, hr, clients = await pay_org(stack, auth, settings, "Dora Departing")
        mia, dora = stack.people["Mia Manager"], stack.people["Dora Departing"]
        rewards = stack.services["rewards"]
        hanna_web = clients["Hanna HR"]
        page = f"/hr/pay/{cycle}"

        # Nothing submitted: nothing to return, no form.
        assert "Return the submitted proposals" not in (await hanna_web.get(page)).text
        as_mia = auth(Role.manager, person_id=uuid.UUID(mia))
        submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)
        assert submitted.json()["submitted"] == 1, submitted.text
        shown = await hanna_web.get(page)
        assert f'action="{page}/Eng/return"' in shown.text
        token = csrf_of(shown.text)

        # Not HR, or no CSRF token: refused before rewards is asked.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            own = csrf_of((await clients[name].get("/inbox")).text)
            refused = await clients[name].post(f"{page}/Eng/return", data={"csrf_token": own, "reason": "x"})
            assert refused.status_code == 403, name
        assert (await hanna_web.post(f"{page}/Eng/return", data={"reason": "x"})).status_code == 403
        # HR who left while signed in: rewards refuses her once it learns of it.
        dora_web = clients["Dora Departing"]
        dora_token = csrf_of((await dora_web.get("/inbox")).text)
        directory = stack.services["reviews"]
        gone = await directory.patch(f"/people/{dora}", json={"active": False}, headers=stack.hr_headers)
        assert gone.status_code == 200, gone.text

        async def dora_refused() -> bool:
            # Rewards learns of the deactivation from the directory's events; the page asks it first.
            return (await dora_web.get(page)).status_code == 403

        await wait_until(dora_refused, timeout=30, message="rewards refuses the deactivated HR person")
        answer = await dora_web.post(f"{page}/Eng/return", data={"csrf_token": dora_token, "reason": "x"})
        assert answer.status_code == 403, answer.text
        summary = await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)
        assert summary.json()["status_counts"]["submitted"] == 1

        # Without a reason: rewards' 422 beside the unit's form, which stays open.
        bare = await hanna_web.post(f"{page}/Eng/return", data={"csrf_token": token, "reason": " "})
        assert bare.status_code == 422, bare.text
        assert 'aria-describedby="error-return-1"' in bare.text
        assert 'id="error-return-1"' in bare.text
        assert "<details open>" in bare.text

        why = "Ada's raise is above the guideline without a justification"
        returned = await hanna_web.post(f"{page}/Eng/return", data={"csrf_token": token, "reason": why})
        assert returned.status_code == 303, returned.text
        notice = await hanna_web.get(returned.headers["location"])
        assert "1 proposal(s) of Eng returned to their managers" in notice.text
        mine = await rewards.get(f"/cycles/{cycle}/proposals", params={"manager": "me"}, headers=as_mia)
        proposal = mine.json()["items"][0]
        assert (proposal["status"], proposal["return_reason"]) == ("draft", why)
        assert "Return the submitted proposals" not in notice.text  # nothing submitted any more

        # An admin may too: submitted again, returned by Adam.
        again = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)
        assert again.json()["submitted"] == 1, again.text
        adam = clients["Adam Admin"]
        adam_token = csrf_of((await adam.get(page)).text)
        by_admin = await adam.post(f"{page}/Eng/return", data={"csrf_token": adam_token, "reason": why})
        assert by_admin.status_code == 303, by_admin.text
