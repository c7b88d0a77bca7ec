"""The pay approval chain on the real servers: the Temporal dev server, the workflow worker as
a process of its own (no database), the rewards service running its activities, NATS.

The organisation: Vic (VP) <- Dora (director) <- Mia (manager) <- Ada, Bob (Eng). Cy is an
unrelated colleague under Dora, Zed a deactivated HR person. The reviews service does not run:
the test publishes the people and the final ratings onto its stream itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from services.rewards.models import Person
from shared.auth import Role
from shared.database import utcnow
from shared.events import service_stream
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org as CycleOrg
from tests.rewards.support import (
    MATRIX,
    Someone,
    add_bands,
    band,
    import_csv,
    publish_people,
    publish_rating,
    rewards_stream,
    someone,
    today,
)
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

SECOND = 1 / 3600  # in hours, the unit of the policy API


@pytest.fixture
async def js(settings: Settings) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(settings.nats_url)
    try:
        context = nc.jetstream()
        await context.add_stream(service_stream("reviews"))
        yield context
    finally:
        await nc.close()


@dataclass
class Org:
    rewards: httpx.AsyncClient
    auth: TokenFactory
    vic: Someone
    dora: Someone
    mia: Someone
    ada: Someone
    bob: Someone
    cy: Someone
    zed: uuid.UUID
    hr: dict[str, str]
    cycle: uuid.UUID

    def manager(self, person: Someone) -> dict[str, str]:
        return self.auth(Role.manager, person_id=person.id)

    def employee(self, person: Someone) -> dict[str, str]:
        return self.auth(Role.employee, person_id=person.id)

    @property
    def admin(self) -> dict[str, str]:
        return self.auth(Role.admin)

    @property
    def deactivated(self) -> dict[str, str]:
        return self.auth(Role.hr, Role.manager, person_id=self.zed)

    def chain_url(self, suffix: str = "") -> str:
        return f"/cycles/{self.cycle}/approval-chains/{self.mia.id}{suffix}"

    async def chain(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.rewards.get(self.chain_url(), headers=headers or self.hr)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def at_step(self, index: int | None, round_: int = 1) -> dict[str, Any]:
        async def there() -> dict[str, Any] | None:
            chain = await self.chain()
            if index is None:
                return chain if chain["status"] == "approved" else None
            return chain if (chain["current_step"], chain["current_round"]) == (index, round_) else None

        found: dict[str, Any] = await wait_until(there, timeout=20, interval=0.1, message=f"chain at step {index}")
        return found

    async def decide(self, headers: dict[str, str], action: str, **body: Any) -> httpx.Response:
        return await self.rewards.post(self.chain_url("/decisions"), json={"action": action, **body}, headers=headers)


async def build(rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory) -> Org:
    hr = auth(Role.hr)
    rewards.headers["Authorization"] = hr["Authorization"]  # for the people-projection probe
    vic = someone("Vic", "Board")
    dora = someone("Dora", "Board", vic)
    mia = someone("Mia", "Eng", dora)
    ada, bob = someone("Ada", "Eng", mia), someone("Bob", "Eng", mia)
    cy = someone("Cy", "Sales", dora)
    await publish_people(js, rewards, vic, dora, mia, ada, bob, cy)
    zed = uuid.uuid4()
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        session.add(
            Person(id=zed, version=2, display_name="Zed", email="zed@example.com", active=False, synced_at=utcnow())
        )
    await add_bands(rewards, hr, band("L1", "EUR", "40000", "50000", "60000"))
    past = today() - timedelta(days=30)
    imported = await import_csv(
        rewards, hr, (ada.id, "EUR", "45000.00", "L1", past), (bob.id, "EUR", "50000.00", "L1", past)
    )
    assert imported.status_code == 200, imported.text
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    cycle = uuid.uuid4()
    await publish_rating(js, cycle, ada, "4.5")
    await publish_rating(js, cycle, bob, "3")

    async def drafts() -> list[Any] | None:
        response = await rewards.get(f"/cycles/{cycle}/proposals", params={"limit": 50}, headers=hr)
        items: list[Any] = response.json()["items"] if response.status_code == 200 else []
        return items if len(items) == 2 and all(item["status"] == "draft" for item in items) else None

    await wait_until(drafts, timeout=15, message="two draft proposals")
    return Org(rewards, auth, vic, dora, mia, ada, bob, cy, zed, hr, cycle)


async def statuses(org: Org) -> set[str]:
    response = await org.rewards.get(f"/cycles/{org.cycle}/proposals", params={"limit": 50}, headers=org.hr)
    return {item["status"] for item in response.json()["items"]}


async def test_two_level_chain_with_an_escalation_and_a_return(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    cycle_worker: WorkerFactory,
    js: JetStreamContext,
) -> None:
    async with service_client("rewards") as rewards, cycle_worker():
        org = await build(rewards, js, auth)
        hr_owner = uuid.uuid4()
        policy = await rewards.put(
            f"/cycles/{org.cycle}/approval-policy",
            json={
                "depth": 2,
                "hr_owner_id": str(hr_owner),
                "step_hours": 6 * SECOND,
                "escalation": [{"after_hours": SECOND, "notify": "manager"}],
            },
            headers=org.hr,
        )
        assert policy.status_code == 200, policy.text
        started = await rewards.post(f"/cycles/{org.cycle}/approval-chains", json={}, headers=org.manager(org.mia))
        assert started.status_code == 201, started.text
        assert await statuses(org) == {"submitted"}
        chain = await org.at_step(1)
        assert [(s["level"], s["assignee_id"], s["final"]) for s in chain["steps"]] == [
            (0, str(org.mia.id), False),
            (1, str(org.dora.id), False),
            (2, str(org.vic.id), False),
            (3, None, True),
        ]
        assert chain["current_assignee_id"] == str(org.dora.id)

        # Dora lets the step run late: escalated to her manager one second after the deadline.
        async def escalated() -> dict[str, Any] | None:
            found = await org.chain()
            return found if any(entry["action"] == "escalated" for entry in found["audit"]) else None

        chain = await wait_until(escalated, timeout=20, interval=0.2, message="the escalation")
        (escalation,) = [entry for entry in chain["audit"] if entry["action"] == "escalated"]
        assert (escalation["step_index"], escalation["notified_id"], escalation["actor_id"]) == (
            1,
            str(org.vic.id),
            None,
        )
        assert escalation["after"]["target"] == "manager"
        assert (chain["current_status"], chain["overdue"]) == ("escalated", True)
        assert [
            task["manager_id"]
            for task in (await rewards.get("/me/approval-tasks", headers=org.manager(org.dora))).json()
        ] == [str(org.mia.id)]

        approved = await org.decide(org.manager(org.dora), "approve")
        assert approved.status_code == 200, approved.text
        assert (approved.json()["current_step"], approved.json()["chain"]["current_assignee_id"]) == (
            1 + 1,
            str(org.vic.id),
        )
        # Vic returns it one step, with a comment: back to Dora, the proposals stay submitted.
        returned = await org.decide(org.manager(org.vic), "return", comment="Bob's increase needs a reason")
        assert returned.status_code == 200, returned.text
        assert returned.json()["current_step"] == 1
        chain = await org.at_step(1, round_=2)
        assert chain["current_assignee_id"] == str(org.dora.id)
        assert await statuses(org) == {"submitted"}
        assert (await org.decide(org.manager(org.dora), "approve")).status_code == 200
        await org.at_step(2, round_=2)
        assert (await org.decide(org.manager(org.vic), "approve")).status_code == 200
        await org.at_step(3)
        # The final step is any HR person's (no named approver in the policy).
        assert [c["manager_id"] for c in (await rewards.get("/me/approval-tasks", headers=org.hr)).json()] == [
            str(org.mia.id)
        ]
        final = await org.decide(org.hr, "approve")
        assert final.status_code == 200, final.text
        assert final.json()["finished"] is True
        chain = await org.at_step(None)
        assert chain["approved_at"] is not None
        # The chain approved every proposal of Eng: the unit's approval, then the statements.
        assert await statuses(org) == {"approved"}
        unit = (await rewards.get(f"/cycles/{org.cycle}/org-units/Eng/summary", headers=org.hr)).json()
        assert unit["approved"] is True
        assert (await rewards.get(f"/me/statements/{org.cycle}", headers=org.employee(org.ada))).status_code == 200

        # The audit: who, when, what; the chain and the proposals before and after.
        audit = chain["audit"]
        actions = [(entry["action"], entry["step_index"], entry["round"]) for entry in audit]
        assert actions == [
            ("submitted", 0, 1),
            ("opened", 1, 1),
            ("escalated", 1, 1),
            ("approved", 1, 1),
            ("opened", 2, 1),
            ("returned", 2, 1),
            ("opened", 1, 2),
            ("approved", 1, 2),
            ("opened", 2, 2),
            ("approved", 2, 2),
            ("opened", 3, 1),
            ("approved", 3, 1),
        ]
        by_action = {(e["action"], e["step_index"], e["round"]): e for e in audit}
        submitted = by_action[("submitted", 0, 1)]
        assert submitted["actor_id"] == str(org.mia.id)
        listed = (await rewards.get(f"/cycles/{org.cycle}/proposals", headers=org.hr)).json()["items"]
        assert submitted["before"]["proposals"].keys() == {item["id"] for item in listed}
        for item in listed:  # the amounts as they were when the manager submitted
            assert submitted["before"]["proposals"][item["id"]]["proposed_pct"] == item["proposed_pct"]
        assert {p["status"] for p in submitted["before"]["proposals"].values()} == {"draft"}
        assert {p["status"] for p in submitted["after"]["proposals"].values()} == {"submitted"}
        the_return = by_action[("returned", 2, 1)]
        assert (the_return["actor_id"], the_return["comment"]) == (str(org.vic.id), "Bob's increase needs a reason")
        assert (the_return["before"]["chain"]["step"], the_return["after"]["next_step"]) == (2, 1)
        last = by_action[("approved", 3, 1)]
        assert last["before"]["chain"]["status"] == "in_progress"
        assert last["after"]["chain"]["status"] == "approved"
        times = [entry["at"] for entry in audit]
        assert times == sorted(times)

        # The people in the chain read it; an employee of it and a colleague do not.
        for reader in (org.manager(org.mia), org.manager(org.dora), org.manager(org.vic), org.admin):
            assert (await rewards.get(org.chain_url(), headers=reader)).status_code == 200
        for outsider in (org.employee(org.ada), org.employee(org.cy)):
            assert_problem(await rewards.get(org.chain_url(), headers=outsider), 404)

        # The bus carries ids and the action only: never the comment.
        async def relayed() -> list[Any] | None:
            events = [e for e, _ in await rewards_stream(js) if e.type.startswith("meritloop.rewards.approval-step.")]
            return events if len(events) == 12 - 1 else None  # every audit entry but the submission

        events = await wait_until(relayed, timeout=10, message="approval-step events relayed")
        verbs = [e.type.rsplit(".", 1)[1] for e in events]
        assert verbs.count("opened") == 5
        assert verbs.count("escalated") == 1
        assert verbs.count("decided") == 5
        raw = b"".join(data for _, data in await rewards_stream(js))
        assert b"needs a reason" not in raw
        for event in events:
            assert set(event.data) <= {
                "chain_id",
                "cycle_id",
                "manager_id",
                "step_index",
                "round",
                "person_id",
                "action",
            }


async def test_who_may_do_what_on_the_chain(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    cycle_worker: WorkerFactory,
    js: JetStreamContext,
) -> None:
    """Every route against self (Ada, in the chain's proposals), the manager (Mia), the
    skip-level (Dora, the first approver), HR, admin, a colleague (Cy) and a deactivated person."""
    async with service_client("rewards") as rewards, cycle_worker():
        org = await build(rewards, js, auth)
        self_, manager, skip = org.employee(org.ada), org.manager(org.mia), org.manager(org.dora)
        colleague, deactivated = org.employee(org.cy), org.deactivated
        policy_url = f"/cycles/{org.cycle}/approval-policy"
        body = {"depth": 1, "step_hours": 1, "reminder_every_hours": 0.5}

        # The policy: HR and admins only, and only while active.
        for headers in (self_, manager, skip, colleague, deactivated):
            assert_problem(await rewards.put(policy_url, json=body, headers=headers), 403)
            assert_problem(await rewards.get(policy_url, headers=headers), 403)
        assert_problem(await rewards.get(policy_url, headers=org.hr), 404)  # not set yet
        chains_url = f"/cycles/{org.cycle}/approval-chains"
        assert_problem(await rewards.post(chains_url, json={}, headers=manager), 409)  # no policy yet
        assert problem_fields(await rewards.put(policy_url, json={**body, "step_hours": 0}, headers=org.hr)) == {
            "step_hours"
        }
        assert problem_fields(
            await rewards.put(policy_url, json={**body, "final_approver_id": str(org.zed)}, headers=org.hr)
        ) == {"final_approver_id"}
        assert (await rewards.put(policy_url, json=body, headers=org.admin)).status_code == 200
        set_policy = await rewards.put(policy_url, json=body, headers=org.hr)
        assert set_policy.status_code == 200, set_policy.text
        assert (set_policy.json()["depth"], set_policy.json()["step_hours"]) == (1, 1)
        assert (await rewards.get(policy_url, headers=org.admin)).json()["reminder_every_hours"] == 0.5

        # Starting: the manager for their own reports, HR for anyone; nobody else.
        for headers in (self_, colleague, deactivated):
            assert_problem(await rewards.post(chains_url, json={}, headers=headers), 403)
        assert_problem(await rewards.post(chains_url, json={"manager_id": str(org.mia.id)}, headers=skip), 403)
        assert_problem(await rewards.post(chains_url, json={}, headers=org.manager(org.cy)), 404)  # no reports
        started = await rewards.post(chains_url, json={}, headers=manager)
        assert started.status_code == 201, started.text
        assert_problem(await rewards.post(chains_url, json={}, headers=manager), 409)
        assert_problem(await rewards.post(chains_url, json={"manager_id": str(org.mia.id)}, headers=org.admin), 409)
        await org.at_step(1)

        # Reading: HR, admins and the people in the chain; not its employees, not a colleague.
        for headers in (manager, skip, org.hr, org.admin):
            assert (await rewards.get(org.chain_url(), headers=headers)).status_code == 200
        for headers in (self_, colleague, org.manager(org.vic)):  # Vic is above the chain's depth
            assert_problem(await rewards.get(org.chain_url(), headers=headers), 404)
        assert_problem(await rewards.get(org.chain_url(), headers=deactivated), 403)

        # Deciding: only the current step's approver (Dora); a return needs a comment.
        for headers in (self_, colleague):
            assert_problem(await org.decide(headers, "approve"), 404)
        assert_problem(await org.decide(deactivated, "approve"), 403)
        for headers in (manager, org.hr, org.admin):
            assert_problem(await org.decide(headers, "approve"), 403)
        assert "comment" in str(assert_problem(await org.decide(skip, "return"), 422))
        no_comment = await org.decide(skip, "return", comment="  ")
        assert_problem(no_comment, 422)
        assert_problem(await org.decide(skip, "approve", step_index=2), 409)
        assert_problem(await org.decide(skip, "sideways"), 422)

        # My tasks: Dora's step is hers; nobody else's list holds it.
        def managers(response: httpx.Response) -> list[str]:
            assert response.status_code == 200, response.text
            return [chain["manager_id"] for chain in response.json()]

        assert managers(await rewards.get("/me/approval-tasks", headers=skip)) == [str(org.mia.id)]
        for headers in (self_, manager, colleague, org.hr, org.admin):
            assert managers(await rewards.get("/me/approval-tasks", headers=headers)) == []
        assert_problem(await rewards.get("/me/approval-tasks", headers=deactivated), 403)

        # Dora returns the proposals to Mia (drafts again, with the reason); Mia resubmits them.
        back = await org.decide(skip, "return", comment="Budget is over for Eng")
        assert back.status_code == 200, back.text
        assert back.json()["current_step"] == 0
        await org.at_step(0, round_=2)
        assert await statuses(org) == {"draft"}
        returned = (await rewards.get(f"/cycles/{org.cycle}/proposals", headers=org.hr)).json()["items"]
        assert {item["return_reason"] for item in returned} == {"Budget is over for Eng"}
        assert managers(await rewards.get("/me/approval-tasks", headers=manager)) == [str(org.mia.id)]
        assert_problem(await org.decide(manager, "return", comment="no"), 409)  # nothing below the manager
        assert_problem(await org.decide(skip, "approve"), 403)
        assert (await org.decide(manager, "approve")).status_code == 200
        await org.at_step(1, round_=2)
        assert await statuses(org) == {"submitted"}
        assert (await org.decide(skip, "approve")).status_code == 200
        await org.at_step(2)
        # The final step (any HR person): HR and admins; Dora no longer.
        assert_problem(await org.decide(skip, "approve"), 403)
        assert managers(await rewards.get("/me/approval-tasks", headers=org.hr)) == [str(org.mia.id)]
        assert (await org.decide(org.admin, "approve")).status_code == 200
        await org.at_step(None)
        assert_problem(await org.decide(org.hr, "approve"), 409)
        assert await statuses(org) == {"approved"}


async def test_the_review_cycle_leaves_pay_approval_when_the_chains_approve_the_unit(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    """A real cycle (reviews, rewards, the worker): the pay-approval gate opens the
    acknowledgement once the chains of both managers of Eng are approved, not before.

    Participants: mgr (reports to boss, who is outside the cycle) and emp0 (reports to mgr):
    mgr's chain is mgr -> boss -> HR, boss's chain (for mgr's own proposal) boss -> HR.
    """
    async with (
        service_client("reviews") as reviews,
        service_client("rewards") as rewards,
        cycle_worker(),
    ):
        org = await CycleOrg(reviews, rewards, auth).build(reports=1)
        cycle = await org.launch()
        for task in await org.wait_tasks(cycle, "self_assessment", 2):
            await org.submit_ok(task)
        for task in await org.wait_tasks(cycle, "manager_review", 2):
            await org.submit_ok(task)
        await org.calibrate(cycle)
        for task in await org.wait_tasks(cycle, "pay_review", 2, timeout=90):
            await org.submit_ok(task)

        async def drafts() -> list[Any] | None:
            response = await rewards.get(f"/cycles/{cycle}/proposals", headers=org.hr)
            items: list[Any] = response.json()["items"] if response.status_code == 200 else []
            return items if len(items) == 2 and {i["status"] for i in items} == {"draft"} else None

        await wait_until(drafts, timeout=30, message="both proposals in draft")
        policy = await rewards.put(
            f"/cycles/{cycle}/approval-policy", json={"depth": 1, "step_hours": 24}, headers=org.hr
        )
        assert policy.status_code == 200, policy.text
        mgr, boss = org.token(org.manager), org.token(org.boss)
        chains = f"/cycles/{cycle}/approval-chains"
        assert (await rewards.post(chains, json={}, headers=mgr)).status_code == 201
        assert (await rewards.post(chains, json={}, headers=boss)).status_code == 201

        async def open_step(manager: str, index: int) -> dict[str, Any]:
            async def there() -> dict[str, Any] | None:
                found: dict[str, Any] = (await rewards.get(f"{chains}/{manager}", headers=org.hr)).json()
                return found if found["current_step"] == index and found["current_status"] == "open" else None

            found: dict[str, Any] = await wait_until(there, timeout=20, message=f"step {index} of {manager}")
            return found

        boss_chain = await open_step(org.boss, 1)
        assert [(s["assignee_id"], s["final"]) for s in boss_chain["steps"]] == [(org.boss, False), (None, True)]
        await open_step(org.manager, 1)
        assert (
            await rewards.post(f"{chains}/{org.manager}/decisions", json={"action": "approve"}, headers=boss)
        ).status_code == 200
        await open_step(org.manager, 2)
        assert (
            await rewards.post(f"{chains}/{org.manager}/decisions", json={"action": "approve"}, headers=org.hr)
        ).status_code == 200
        # One chain of Eng is approved, the other is not: the unit and the cycle wait.
        summary = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=org.hr)).json()
        assert summary["approved"] is False
        assert (await org.cycle(cycle))["phase"] == "pay_approval"
        final = await rewards.post(f"{chains}/{org.boss}/decisions", json={"action": "approve"}, headers=org.hr)
        assert final.status_code == 200, final.text
        assert (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=org.hr)).json()["approved"]
        # proposal.approved reaches the reviews service, which tells the cycle's gate.
        acknowledgements = await org.wait_tasks(cycle, "acknowledgement", 2, timeout=60)
        assert {task["assignee_id"] for task in acknowledgements} == set(org.people)
        assert (await org.cycle(cycle))["phase"] == "acknowledgement"
