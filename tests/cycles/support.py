"""Helpers shared by the review-cycle tests: an organisation, a cycle, and driving it through the APIs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import nats

from shared.auth import Role
from shared.database import utcnow
from shared.events import CloudEvent, stream_name
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.reviews_config.builders import scale_body, template_body
from tests.rewards.support import MATRIX, band, import_csv
from tests.support.waiting import wait_until

ANSWERS: dict[str, Any] = {
    "answers": [{"item": "craft", "value": 4}, {"item": "ownership", "value": 3}, {"item": "impact", "value": 4}]
}
PHASE_ORDER = ("self_assessment", "manager_review", "calibration", "pay_approval", "acknowledgement")
TASK_CREATED = "meritloop.reviews.task.created"


async def add_person(client: httpx.AsyncClient, hr: dict[str, str], name: str, dept: str, manager: str | None) -> str:
    body: dict[str, Any] = {"email": f"{name}@example.com", "display_name": name, "department": dept}
    if manager is not None:
        body["manager_id"] = manager
    response = await client.post("/people", json=body, headers=hr)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


GOALS = ((60, 50.0), (40, 100.0))  # (weight, progress): a goal score of 0.6 * 50 + 0.4 * 100 = 70


async def add_goals(goals: httpx.AsyncClient, hr: dict[str, str], person: str, token: dict[str, str]) -> None:
    """Two goals in the 2026 cycle period for ``person`` (``GOALS``), each with its check-in."""
    for weight, progress in GOALS:
        body = {
            "title": f"Ship the {weight}% objective",
            "owner_id": person,
            "weight": weight,
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "due_date": "2026-06-30",
        }
        created = await goals.post("/goals", json=body, headers=hr)
        assert created.status_code == 201, created.text
        check_in = await goals.post(f"/goals/{created.json()['id']}/check-ins", json={"value": progress}, headers=token)
        assert check_in.status_code == 201, check_in.text


async def list_tasks(client: httpx.AsyncClient, hr: dict[str, str], cycle: str, kind: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/tasks", params={"scope": "all", "kind": kind, "cycle_id": cycle, "limit": 500}, headers=hr
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def ready(client: httpx.AsyncClient, hr: dict[str, str], cycle: str, kind: str, count: int) -> Any:
    tasks = await list_tasks(client, hr, cycle, kind)
    return tasks if len(tasks) == count else None


async def read_stream(settings: Settings, name: str) -> list[CloudEvent]:
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(name)
        events: list[CloudEvent] = []
        if info.state.messages == 0:
            return events  # first_seq is 0 then, which get_msg refuses
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(name, sequence)
            assert message.data is not None
            events.append(CloudEvent.from_bytes(message.data))
        return events
    finally:
        await nc.close()


async def reviews_events(settings: Settings) -> list[CloudEvent]:
    return await read_stream(settings, stream_name("reviews"))


def phase_deadlines(start: datetime, **overrides: datetime) -> dict[str, str]:
    """Deadlines 10 days apart from ``start``; ``overrides`` replaces some (keep them ordered)."""
    found = {phase: start + timedelta(days=10 * (i + 1)) for i, phase in enumerate(PHASE_ORDER)}
    found.update(overrides)
    return {phase: when.isoformat() for phase, when in found.items()}


@dataclass
class Org:
    """A small organisation in the reviews directory: a boss, one manager, reports in ``Eng``."""

    reviews: httpx.AsyncClient
    rewards: httpx.AsyncClient | None
    auth: TokenFactory
    hr_id: uuid.UUID = field(default_factory=uuid.uuid4)
    boss: str = ""
    manager: str = ""
    people: dict[str, str] = field(default_factory=dict)  # participant -> their manager
    template_id: str = ""

    @property
    def hr(self) -> dict[str, str]:
        return self.auth(Role.hr, person_id=self.hr_id)

    def token(self, person: str) -> dict[str, str]:
        roles = (Role.manager,) if person in (self.boss, self.manager) else (Role.employee,)
        return self.auth(*roles, person_id=uuid.UUID(person))

    async def build(self, reports: int = 5) -> Org:
        """``reports`` people under one manager: ``reports + 1`` participants, all in ``Eng``."""
        hr = self.hr
        self.boss = await add_person(self.reviews, hr, "boss", "Exec", None)
        self.manager = await add_person(self.reviews, hr, "mgr", "Eng", self.boss)
        self.people = {self.manager: self.boss}
        for number in range(reports):
            self.people[await add_person(self.reviews, hr, f"emp{number}", "Eng", self.manager)] = self.manager
        scale = (await self.reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
        template = (await self.reviews.post("/templates", json=template_body(scale["id"]), headers=hr)).json()
        published = await self.reviews.post(f"/templates/{template['id']}/publish", headers=hr)
        assert published.status_code == 200, published.text
        self.template_id = template["id"]
        if self.rewards is not None:
            await self.pay_data(list(self.people))
        return self

    async def pay_data(self, people: list[str]) -> None:
        assert self.rewards is not None
        hr = self.hr
        pay_band = band("G1", "EUR", "40000", "50000", "60000")
        assert (await self.rewards.post("/pay-bands", json=pay_band, headers=hr)).status_code == 201
        day = (utcnow() - timedelta(days=30)).date().isoformat()
        rows = [(p, "EUR", "50000", "G1", day) for p in people]

        async def imported() -> httpx.Response | None:
            # rewards learns people from the reviews stream: wait until it knows them all
            assert self.rewards is not None
            response = await import_csv(self.rewards, hr, *rows)
            if response.status_code == 422 and "no person with this id" in response.text:
                return None
            assert response.status_code in (200, 201), response.text
            return response

        await wait_until(imported, timeout=30, interval=0.2, message="rewards knows the people")
        assert (await self.rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201

    async def launch(
        self,
        *,
        deadlines: dict[str, str] | None = None,
        escalation: list[dict[str, Any]] | None = None,
        grace_hours: float = 72,
    ) -> str:
        body: dict[str, Any] = {
            "name": "resilience",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "template_id": self.template_id,
            "filters": {"departments": ["Eng"]},
            "deadlines": deadlines or phase_deadlines(utcnow()),
            "grace_hours": grace_hours,
            "escalation": escalation or [],
        }
        created = await self.reviews.post("/review-cycles", json=body, headers=self.hr)
        assert created.status_code == 201, created.text
        cycle = str(created.json()["id"])
        launched = await self.reviews.post(f"/review-cycles/{cycle}/launch", headers=self.hr)
        assert launched.status_code == 200, launched.text
        assert launched.json()["participant_count"] == len(self.people)
        return cycle

    async def wait_tasks(self, cycle: str, kind: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await wait_until(
            lambda: ready(self.reviews, self.hr, cycle, kind, count), timeout=timeout, message=f"{count} {kind} tasks"
        )
        return found

    async def submit(self, task: dict[str, Any], body: dict[str, Any] | None = None) -> httpx.Response:
        default = ANSWERS if task["step"] in ("self_assessment", "manager_review") else {}
        return await self.reviews.post(
            f"/tasks/{task['id']}/submit",
            json=default if body is None else body,
            headers=self.token(task["assignee_id"]),
        )

    async def submit_ok(self, task: dict[str, Any]) -> None:
        done = await self.submit(task)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done"

    async def cycle(self, cycle: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.reviews.get(f"/review-cycles/{cycle}", headers=self.hr)).json()
        return found

    async def wait_cycle(self, cycle: str, status: str, timeout: float = 60) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            found = await self.cycle(cycle)
            return found if found["status"] == status else None

        found: dict[str, Any] = await wait_until(reached, timeout=timeout, message=f"cycle {status}")
        return found

    async def finish_from_manager_review(self, cycle: str, participants: int) -> None:
        """Manager reviews, calibration, pay and acknowledgement for ``participants`` people; then closed."""
        for task in await self.wait_tasks(cycle, "manager_review", participants):
            await self.submit_ok(task)
        await self.calibrate(cycle)
        await self.pay(cycle, participants)
        for task in await self.wait_tasks(cycle, "acknowledgement", participants, timeout=90):
            await self.submit_ok(task)
        closed = await self.wait_cycle(cycle, "closed", timeout=60)
        assert closed["phase"] == "closed"

    async def calibrate(self, cycle: str) -> None:
        async def sessions() -> Any:
            response = await self.reviews.get(f"/review-cycles/{cycle}/calibration-sessions", headers=self.hr)
            found = response.json() if response.status_code == 200 else []
            return found or None

        for calibration in await wait_until(sessions, timeout=60, message="calibration sessions"):
            final = await self.reviews.post(f"/calibration-sessions/{calibration['id']}/finalize", headers=self.hr)
            assert final.status_code == 200, final.text

    async def pay(self, cycle: str, participants: int) -> None:
        assert self.rewards is not None
        for task in await self.wait_tasks(cycle, "pay_review", participants, timeout=90):
            await self.submit_ok(task)
        for manager in {*self.people.values()}:
            submitted = await self.rewards.post(
                f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=self.token(manager)
            )
            assert submitted.status_code == 200, submitted.text
        approved = await self.rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=self.hr)
        assert approved.status_code == 200, approved.text


def assert_unique_created(events: list[CloudEvent], expected: set[str]) -> None:
    """Every expected task was announced exactly once, and nothing else was."""
    created = [str(e.data["task_id"]) for e in events if e.type == TASK_CREATED]
    assert len(created) == len(set(created)), sorted(created)
    missing, extra = expected - set(created), set(created) - expected
    assert not missing, f"missing task.created for {sorted(missing)}"
    assert not extra, f"unexpected task.created for {sorted(extra)}"


def expected_task_ids(cycle: str, people: dict[str, str], steps: tuple[str, ...]) -> set[str]:
    return {f"{cycle}:{person}:{step}:1" for person in people for step in steps}


async def inbox_rows(org: Org, cycle: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    """Each task by id as the inbox API shows it to HR (any status); fails on a missing one."""
    found: dict[str, dict[str, Any]] = {}
    for task_id in sorted(ids):
        response = await org.reviews.get(f"/tasks/{task_id}", headers=org.hr)
        assert response.status_code == 200, (task_id, response.text)
        found[task_id] = response.json()["task"]
    return found


async def inbox_counts(org: Org, cycle: str) -> dict[str, dict[str, int]]:
    """Rows of the inbox per step and status (from the database, not the workflow)."""
    progress = (await org.reviews.get(f"/review-cycles/{cycle}/progress", headers=org.hr)).json()
    counts: dict[str, dict[str, int]] = progress["steps"]
    return counts
