"""Disputing the rating after the acknowledgement, in the pages over the real reviews service: the
link on the done acknowledgement, the form with its reason, the dispute shown afterwards, HR's queue
with the reason, and who may."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded
from tests.disputes.test_late_dispute import REASON, acknowledged
from tests.web.conftest import StackFactory, admin_session, csrf_of, sign_in_as, web_client

pytestmark = pytest.mark.database


async def test_dispute_after_acknowledging(web_stack: StackFactory, auth: TokenFactory, settings: Settings) -> None:
    async with web_stack("reviews") as stack:
        seeded = await Seeded(stack.services["reviews"], auth, settings).build()
        task = await acknowledged(seeded, seeded.alice)
        alice = stack.web
        await sign_in_as(alice, seeded.alice)
        done = await alice.get(f"/tasks/{task}")
        assert done.status_code == 200, done.text
        assert f'href="/tasks/{quote(task)}/dispute"' in done.text

        page = await alice.get(f"/tasks/{task}/dispute")
        assert page.status_code == 200, page.text
        assert "you can still tell HR that you disagree" in page.text
        token = csrf_of(page.text)
        empty = await alice.post(f"/tasks/{task}/dispute", data={"csrf_token": token, "reason": "   "})
        assert empty.status_code == 422
        assert 'id="error-reason"' in empty.text
        assert (await alice.post(f"/tasks/{task}/dispute", data={"reason": REASON})).status_code == 403  # no CSRF

        sent = await alice.post(f"/tasks/{task}/dispute", data={"csrf_token": token, "reason": REASON})
        assert sent.status_code == 303, sent.text
        shown = await alice.get(sent.headers["location"])
        assert "Your dispute is sent to HR" in shown.text
        assert REASON in shown.text
        assert 'name="reason"' not in shown.text  # no second form
        twice = await alice.post(f"/tasks/{task}/dispute", data={"csrf_token": token, "reason": REASON})
        assert twice.status_code == 409
        assert "Your rating is disputed already." in twice.text
        german = await alice.get(f"/tasks/{task}/dispute", headers={"accept-language": "de"})
        assert "Ihre Beurteilung anfechten" in german.text

        # HR's queue shows the reason given afterwards (an admin here: development sign-in knows no HR).
        async with web_client(stack.app) as admin:
            admin_session(admin, str(uuid.uuid4()), auth)
            queue = await admin.get("/hr/disputes")
            assert queue.status_code == 200, queue.text
            assert REASON in queue.text
            # Not theirs to dispute: the page says there is no such acknowledgement of theirs.
            assert (await admin.get(f"/tasks/{task}/dispute")).status_code == 404

        # Her manager, the skip-level, a colleague and an outsider: 404, for the page and the form.
        for other in (seeded.manager, seeded.boss, seeded.bob, seeded.outsider):
            async with web_client(stack.app) as client:
                await sign_in_as(client, other)
                assert (await client.get(f"/tasks/{task}/dispute")).status_code == 404
                form = csrf_of((await client.get("/inbox")).text)
                refused = await client.post(f"/tasks/{task}/dispute", data={"csrf_token": form, "reason": REASON})
                assert refused.status_code == 404

        # Bob's acknowledgement is still open: no such page yet, he disputes on the task.
        await seeded.set_participant(seeded.bob, proposed_rating="3", final_rating="3", rating_version=1)
        bobs = await seeded.add_task(seeded.bob, "acknowledgement", status="open")
        async with web_client(stack.app) as bob:
            await sign_in_as(bob, seeded.bob)
            assert (await bob.get(f"/tasks/{bobs}/dispute")).status_code == 404
            assert "/dispute" not in (await bob.get(f"/tasks/{bobs}")).text

        # Olga acknowledged long ago: the page still opens, the service refuses in words.
        late = await acknowledged(seeded, seeded.outsider, days_ago=31)
        async with web_client(stack.app) as olga:
            await sign_in_as(olga, seeded.outsider)
            form = csrf_of((await olga.get(f"/tasks/{late}/dispute")).text)
            closed = await olga.post(f"/tasks/{late}/dispute", data={"csrf_token": form, "reason": REASON})
            assert closed.status_code == 409
            assert "are over" in closed.text

        # Deactivated while signed in: the service's 403.
        mgr_task = await acknowledged(seeded, seeded.manager)
        async with web_client(stack.app) as manager:
            await sign_in_as(manager, seeded.manager)
            form = csrf_of((await manager.get(f"/tasks/{mgr_task}/dispute")).text)
            await seeded.deactivate(seeded.manager)
            gone = await manager.post(f"/tasks/{mgr_task}/dispute", data={"csrf_token": form, "reason": REASON})
            assert gone.status_code == 403
