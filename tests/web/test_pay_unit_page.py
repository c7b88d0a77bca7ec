"""HR's page of one unit's pay proposals (web over reviews, rewards and NATS): only HR and admins reach
it, each proposal is listed with its pay and the manager's increase, and only the proposals HR ticks
go back to their managers with HR's reason; the rest stay submitted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import nats
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.rewards.support import Someone, import_csv, publish_rating, today
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of
from tests.web.test_policy_pages import pay_org

pytestmark = pytest.mark.database


async def test_hr_returns_only_the_proposals_they_tick(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        cycle, hr, clients = await pay_org(stack, auth, settings, "Dora Departing")
        mia, ada, dora = (stack.people[name] for name in ("Mia Manager", "Ada Employee", "Dora Departing"))
        rewards = stack.services["rewards"]
        # A second report of Mia's in Eng, with a pay record and a final rating like Ada's.
        ben = await stack.add_person("Ben Employee", "Eng", "Mia Manager")

        async def imported() -> bool:
            response = await import_csv(rewards, hr, (ben, "EUR", "52000.00", "L1", today() - timedelta(days=30)))
            return response.status_code == 200

        await wait_until(imported, timeout=30, message="rewards knows Ben")
        nc = await nats.connect(settings.nats_url)
        try:
            await publish_rating(nc.jetstream(), cycle, Someone(uuid.UUID(ben), "x", "Eng", uuid.UUID(mia)), "3")
        finally:
            await nc.close()

        async def two_proposals() -> bool:
            found = await rewards.get(f"/cycles/{cycle}/proposals", params={"org_unit": "Eng"}, headers=hr)
            return found.status_code == 200 and found.json()["total"] == 2

        await wait_until(two_proposals, timeout=30, message="rewards proposes Ben's pay")
        as_mia = auth(Role.manager, person_id=uuid.UUID(mia))
        submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)
        assert submitted.json()["submitted"] == 2, submitted.text
        ids = {
            item["person_id"]: item["id"]
            for item in (await rewards.get(f"/cycles/{cycle}/proposals", headers=hr)).json()["items"]
        }
        hanna_web = clients["Hanna HR"]
        page = f"/hr/pay/{cycle}/Eng/proposals"

        # The pay approval page links each unit to it; HR and admins see every proposal, ticks for the submitted.
        assert f'href="{page}"' in (await hanna_web.get(f"/hr/pay/{cycle}")).text
        for name in ("Hanna HR", "Adam Admin"):
            shown = await clients[name].get(page)
            assert shown.status_code == 200, name
            for person in (ada, ben):
                assert f'name="proposal" value="{ids[person]}"' in shown.text, name
            for text in ("Ada Employee", "Ben Employee", "€52,000.00", "€50,000.00"):
                assert text in shown.text, (name, text)
        token = csrf_of((await hanna_web.get(page)).text)

        # Not HR (the employee, her manager, the skip-level, a colleague), or no CSRF token: refused
        # before rewards is asked.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            client = clients[name]
            assert (await client.get(page)).status_code == 403, name
            own = csrf_of((await client.get("/inbox")).text)
            refused = await client.post(f"{page}/return", data={"csrf_token": own, "proposal": ids[ada], "reason": "x"})
            assert refused.status_code == 403, name
        assert (await hanna_web.post(f"{page}/return", data={"proposal": ids[ada], "reason": "x"})).status_code == 403
        # HR who left while signed in: rewards refuses her once it learns of it.
        dora_web = clients["Dora Departing"]
        dora_token = csrf_of((await dora_web.get("/inbox")).text)
        gone = await stack.services["reviews"].patch(
            f"/people/{dora}", json={"active": False}, headers=stack.hr_headers
        )
        assert gone.status_code == 200, gone.text

        async def dora_refused() -> bool:
            return (await dora_web.get(page)).status_code == 403

        await wait_until(dora_refused, timeout=30, message="rewards refuses the deactivated HR person")
        answer = await dora_web.post(
            f"{page}/return", data={"csrf_token": dora_token, "proposal": ids[ada], "reason": "x"}
        )
        assert answer.status_code == 403, answer.text

        # Nothing ticked: said beside the list, the reason kept.
        why = "The increase for Ben needs a justification"
        nothing = await hanna_web.post(f"{page}/return", data={"csrf_token": token, "reason": why})
        assert nothing.status_code == 422, nothing.text
        assert '<p class="error" id="error-proposal">Tick the proposals to return.</p>' in nothing.text
        assert why in nothing.text
        # Ticked without a reason: rewards' 422 beside the reason, the tick kept.
        bare = await hanna_web.post(f"{page}/return", data={"csrf_token": token, "proposal": ids[ben], "reason": ""})
        assert bare.status_code == 422, bare.text
        assert 'id="error-reason"' in bare.text
        assert f'value="{ids[ben]}" checked' in bare.text
        # A proposal of no unit here: rewards' 422 names it, nothing returned.
        stranger = str(uuid.uuid4())
        unknown = await hanna_web.post(
            f"{page}/return", data={"csrf_token": token, "proposal": [ids[ben], stranger], "reason": why}
        )
        assert unknown.status_code == 422, unknown.text
        assert stranger in unknown.text
        summary = await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)
        assert summary.json()["status_counts"]["submitted"] == 2

        returned = await hanna_web.post(
            f"{page}/return", data={"csrf_token": token, "proposal": ids[ben], "reason": why}
        )
        assert returned.status_code == 303, returned.text
        notice = await hanna_web.get(returned.headers["location"])
        assert "1 proposal(s) of Eng returned to their managers" in notice.text
        mine = {
            item["person_id"]: item
            for item in (
                await rewards.get(f"/cycles/{cycle}/proposals", params={"manager": "me"}, headers=as_mia)
            ).json()["items"]
        }
        assert (mine[ben]["status"], mine[ben]["return_reason"]) == ("draft", why)
        assert (mine[ada]["status"], mine[ada]["return_reason"]) == ("submitted", None)
        # Filtered by status: Ada still waits for approval; Ben's shows why it went back, with no tick.
        waiting = await hanna_web.get(page, params={"status": "submitted"})
        assert ("Ada Employee" in waiting.text, "Ben Employee" in waiting.text) == (True, False)
        drafts = await hanna_web.get(page, params={"status": "draft"})
        assert ("Ben Employee" in drafts.text, "Ada Employee" in drafts.text) == (True, False)
        assert f"returned: {why}" in drafts.text
        assert 'name="proposal"' not in drafts.text
        assert (await hanna_web.get(page, params={"status": "lost"})).status_code == 422

        # An admin returns the other one.
        adam = clients["Adam Admin"]
        adam_token = csrf_of((await adam.get(page)).text)
        by_admin = await adam.post(
            f"{page}/return", data={"csrf_token": adam_token, "proposal": ids[ada], "reason": why}
        )
        assert by_admin.status_code == 303, by_admin.text
        summary = await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)
        assert (summary.json()["status_counts"]["draft"], summary.json()["status_counts"]["submitted"]) == (2, 0)
