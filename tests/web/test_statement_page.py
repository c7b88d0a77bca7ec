"""An employee reads their own pay statements in the pages (web over reviews and rewards).

There is no address naming anyone else: each person's page asks rewards for their own, so a
manager, HR or an admin sees only theirs; a deactivated person is refused by rewards."""

from __future__ import annotations

import uuid

import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of, web_client
from tests.web.test_policy_pages import pay_org
from web.i18n import Formatter

pytestmark = pytest.mark.database

NONE_YET = "No pay statement yet"


async def test_an_employee_reads_their_own_pay_statement(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        cycle, _hr, clients = await pay_org(stack, auth, settings)
        mia, ada = stack.people["Mia Manager"], stack.people["Ada Employee"]
        rewards = stack.services["rewards"]
        ada_web = clients["Ada Employee"]

        # Before the approval: nothing to show.
        assert NONE_YET in (await ada_web.get("/statements")).text
        as_mia = auth(Role.manager, person_id=uuid.UUID(mia))
        submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)
        assert submitted.json()["submitted"] == 1, submitted.text
        hanna_web = clients["Hanna HR"]
        token = csrf_of((await hanna_web.get(f"/hr/pay/{cycle}")).text)
        assert (await hanna_web.post(f"/hr/pay/{cycle}/Eng/approve", data={"csrf_token": token})).status_code == 303

        own = auth(Role.employee, person_id=uuid.UUID(ada))
        statement = (await rewards.get(f"/me/statements/{cycle}", headers=own)).json()
        money = Formatter("en", None).money
        page = await ada_web.get("/statements")
        assert page.status_code == 200
        for amount in ("previous_salary", "new_salary", "increase_amount", "total_cash"):
            assert money(statement[amount], "EUR") in page.text, amount
        assert "€52,000.00" in page.text  # 50,000 at the matrix target of 4 %
        assert 'href="/statements" aria-current="page"' in page.text

        # Everyone else sees their own (none), never Ada's.
        for name, client in clients.items():
            if name == "Ada Employee":
                continue
            theirs = await client.get("/statements")
            assert theirs.status_code == 200, name
            assert NONE_YET in theirs.text, name
            assert "52,000" not in theirs.text, name

        # Ada leaves while signed in: rewards refuses her once it learns of it.
        directory = stack.services["reviews"]
        assert (
            await directory.patch(f"/people/{ada}", json={"active": False}, headers=stack.hr_headers)
        ).status_code == 200

        async def refused() -> bool:
            return (await ada_web.get("/statements")).status_code == 403

        await wait_until(refused, timeout=30, message="rewards refuses Ada")
        anonymous = web_client(stack.app)
        assert (await anonymous.get("/statements")).status_code == 303
