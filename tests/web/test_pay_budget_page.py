"""HR sets a unit's pools from its proposals page (web over reviews, rewards and NATS): percentages
and fixed amounts per currency as rewards stores them, refused input beside its field with what was
typed kept, and nobody but HR and admins reaching the form."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of
from tests.web.test_policy_pages import pay_org
from web.pay_unit_pages import amounts

pytestmark = pytest.mark.database


def test_amounts_are_read_a_currency_and_an_amount_a_line() -> None:
    assert amounts("EUR 25000.00\n usd: 1200 ;gbp 3") == {"EUR": "25000.00", "USD": "1200", "GBP": "3"}
    assert amounts("  \n") == {}
    for wrong in ("25000 EUR", "EURO 5", "EUR", "EUR -5", "EUR 5 6"):
        assert amounts(wrong) is None, wrong


async def test_hr_sets_a_units_pools(web_stack: StackFactory, auth: TokenFactory, settings: Settings) -> None:
    async with web_stack("reviews", "rewards") as stack:
        cycle, hr, clients = await pay_org(stack, auth, settings, "Dora Departing")
        rewards = stack.services["rewards"]
        page, action = f"/hr/pay/{cycle}/Eng/proposals", f"/hr/pay/{cycle}/Eng/budget"
        hanna = clients["Hanna HR"]
        shown = await hanna.get(page)
        assert f'action="{action}"' in shown.text
        assert "Budget of Eng" in shown.text
        token = csrf_of(shown.text)
        fields = {"csrf_token": token, "merit_pct": "4,5", "bonus_amounts": "EUR 3000.00", "budget_reason": "Reorg"}

        # Not HR (the employee, her manager, the skip-level, a colleague) or no CSRF token: refused
        # before rewards is asked.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            client = clients[name]
            own = csrf_of((await client.get("/inbox")).text)
            assert (await client.get(page)).status_code == 403, name
            assert (await client.post(action, data={**fields, "csrf_token": own})).status_code == 403, name
        assert (
            await hanna.post(action, data={k: v for k, v in fields.items() if k != "csrf_token"})
        ).status_code == 403

        # Saved: rewards holds the unit's own merit % and the fixed bonus pool, and the page shows them.
        saved = await hanna.post(action, data=fields)
        assert saved.status_code == 303, saved.text
        after = await hanna.get(saved.headers["location"])
        assert "The unit&#39;s budget is saved." in after.text
        assert 'id="merit_pct" name="merit_pct" inputmode="decimal" size="6" value="4.5' in after.text
        assert "EUR 3000.00</textarea>" in after.text
        assert "a fixed amount" in after.text
        summary = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
        assert Decimal(str(summary["unit_merit_pct"])) == Decimal("4.5")
        assert summary["unit_bonus_pct"] is None
        assert {k: Decimal(str(v)) for k, v in summary["bonus_amounts"].items()} == {"EUR": Decimal("3000.00")}
        assert summary["override_reason"] == "Reorg"
        [eur] = summary["bonus"]
        assert (Decimal(str(eur["budget"])), eur["basis"]) == (Decimal("3000.00"), "amount")

        # A line that is not an amount (caught here), a percentage rewards refuses: beside the
        # field, what was typed kept, and nothing changed.
        wrong = await hanna.post(action, data={**fields, "merit_amounts": "lots of euros"})
        assert wrong.status_code == 422, wrong.text
        assert 'id="error-merit_amounts"' in wrong.text
        assert "lots of euros</textarea>" in wrong.text
        too_much = await hanna.post(action, data={**fields, "merit_pct": "250"})
        assert too_much.status_code == 422, too_much.text
        assert 'id="error-merit_pct"' in too_much.text
        assert 'value="250"' in too_much.text
        cents = await hanna.post(action, data={**fields, "bonus_amounts": "EUR 10.005"})
        assert cents.status_code == 422, cents.text
        assert 'id="error-bonus_amounts"' in cents.text
        again = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
        assert Decimal(str(again["unit_merit_pct"])) == Decimal("4.5")

        # Emptied: the unit follows the cycle again.
        cleared = await hanna.post(action, data={"csrf_token": token})
        assert cleared.status_code == 303, cleared.text
        plain = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
        assert (plain["unit_merit_pct"], plain["bonus_amounts"]) == (None, {})

        # An admin may too; HR who left while signed in gets rewards' 403, and nothing changes.
        adam = clients["Adam Admin"]
        by_admin = await adam.post(action, data={**fields, "csrf_token": csrf_of((await adam.get(page)).text)})
        assert by_admin.status_code == 303, by_admin.text
        dora = clients["Dora Departing"]
        dora_token = csrf_of((await dora.get("/inbox")).text)
        left = await stack.services["reviews"].patch(
            f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
        )
        assert left.status_code == 200, left.text

        async def dora_refused() -> bool:
            return (await dora.get(page)).status_code == 403

        await wait_until(dora_refused, timeout=30, message="rewards refuses the deactivated HR person")
        refused = await dora.post(action, data={**fields, "csrf_token": dora_token, "merit_pct": "9"})
        assert refused.status_code == 403, refused.text
        last = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
        assert Decimal(str(last["unit_merit_pct"])) == Decimal("4.5")
