"""A launched cycle written straight into the reviews database, as its workflow's activities would.

The read side (forms, history, lineage, status) is what these tests check; the workflow that
writes tasks and closes reviews is tested in tests/cycles and tests/workflows. Seeding rows the
way ``reviews.create_task``, ``reviews.update_task`` and ``reviews.close_review`` leave them
keeps these tests to seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reviews.cycles.service import CycleService
from services.reviews.models import CalibrationSession, CycleParticipant, Person, ReviewCycle, ReviewTask
from shared.auth import Role
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycles.support import add_person, phase_deadlines
from tests.reviews_config.builders import scale_body, template_body
from workflows.models import Step, review_workflow_id, task_id


def sessionmaker_of(client: httpx.AsyncClient) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = client.app.state.sessionmaker  # type: ignore[attr-defined]
    return maker


@dataclass
class Seeded:
    """boss -> manager -> (alice, bob); ``outsider`` is a colleague elsewhere; all but boss take part."""

    reviews: httpx.AsyncClient
    auth: TokenFactory
    settings: Settings
    hr_id: uuid.UUID = field(default_factory=uuid.uuid4)
    admin_id: uuid.UUID = field(default_factory=uuid.uuid4)
    boss: str = ""
    manager: str = ""
    alice: str = ""
    bob: str = ""
    outsider: str = ""
    scale_id: str = ""
    template_id: str = ""
    cycle_id: str = ""

    @property
    def hr(self) -> dict[str, str]:
        return self.auth(Role.hr, person_id=self.hr_id)

    @property
    def admin(self) -> dict[str, str]:
        return self.auth(Role.admin, person_id=self.admin_id)

    def token(self, person: str) -> dict[str, str]:
        roles = (Role.manager,) if person in (self.boss, self.manager) else (Role.employee,)
        return self.auth(*roles, person_id=uuid.UUID(person))

    @property
    def participants(self) -> list[str]:
        return [self.manager, self.alice, self.bob, self.outsider]

    def manager_of(self, person: str) -> str:
        return {self.manager: self.boss, self.alice: self.manager, self.bob: self.manager}.get(person, self.boss)

    async def build(self, cycle_body: dict[str, Any] | None = None) -> Seeded:
        hr = self.hr
        self.boss = await add_person(self.reviews, hr, "boss", "Exec", None)
        self.manager = await add_person(self.reviews, hr, "mgr", "Eng", self.boss)
        self.alice = await add_person(self.reviews, hr, "alice", "Eng", self.manager)
        self.bob = await add_person(self.reviews, hr, "bob", "Eng", self.manager)
        self.outsider = await add_person(self.reviews, hr, "olga", "Sales", self.boss)
        scale = await self.reviews.post("/rating-scales", json=scale_body(), headers=hr)
        assert scale.status_code == 201, scale.text
        self.scale_id = scale.json()["id"]
        template = await self.reviews.post("/templates", json=template_body(self.scale_id), headers=hr)
        assert template.status_code == 201, template.text
        self.template_id = template.json()["id"]
        published = await self.reviews.post(f"/templates/{self.template_id}/publish", headers=hr)
        assert published.status_code == 200, published.text
        body = cycle_body or {
            "name": "2026",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "template_id": self.template_id,
            "rating_scale_id": self.scale_id,
            "filters": {"departments": ["Eng", "Sales"]},
            "deadlines": phase_deadlines(utcnow()),
        }
        created = await self.reviews.post("/review-cycles", json=body, headers=hr)
        assert created.status_code == 201, created.text
        self.cycle_id = created.json()["id"]
        async with sessionmaker_of(self.reviews)() as session, session.begin():
            await CycleService(session, self.settings).launch(uuid.UUID(self.cycle_id))
        return self

    async def add_task(
        self, person: str, step: str, *, status: str = "open", draft: dict[str, Any] | None = None
    ) -> str:
        """The row ``reviews.create_task`` writes (then ``update_task``'s status), for ``person``'s ``step``."""
        assignee = self.manager_of(person) if step in ("manager_review", "pay_review") else person
        ident = task_id(self.cycle_id, person, Step(step))
        async with sessionmaker_of(self.reviews)() as session, session.begin():
            session.add(
                ReviewTask(
                    id=ident,
                    cycle_id=uuid.UUID(self.cycle_id),
                    person_id=uuid.UUID(person),
                    step=step,
                    assignee_id=uuid.UUID(assignee),
                    status=status,
                    due_at=utcnow() + timedelta(days=5),
                    workflow_id=review_workflow_id(self.cycle_id, person),
                    escalations=[],
                    draft=draft,
                    revision=1,
                    completed_by=uuid.UUID(assignee) if status == "done" else None,
                    completed_at=utcnow() if status == "done" else None,
                )
            )
        return ident

    async def set_cycle(self, **values: Any) -> None:
        async with sessionmaker_of(self.reviews)() as session, session.begin():
            cycle = await session.get(ReviewCycle, uuid.UUID(self.cycle_id))
            assert cycle is not None
            for name, value in values.items():
                setattr(cycle, name, value)

    async def set_participant(self, person: str, **values: Any) -> None:
        async with sessionmaker_of(self.reviews)() as session, session.begin():
            found = await session.get(CycleParticipant, (uuid.UUID(self.cycle_id), uuid.UUID(person)))
            assert found is not None
            for name, value in values.items():
                setattr(found, name, Decimal(value) if name.endswith("_rating") and value is not None else value)

    async def deactivate(self, person: str) -> None:
        """Inactive in the directory as after ``PATCH /people/{id}``, minus the event (its consumer needs Temporal)."""
        async with sessionmaker_of(self.reviews)() as session, session.begin():
            found = await session.get(Person, uuid.UUID(person))
            assert found is not None
            found.active, found.deactivated_at = False, utcnow()


async def open_session(seeded: Seeded, org_unit: str = "Eng") -> str:
    """A calibration session of the unit, as ``reviews.open_calibration`` opens it."""
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        calibration = CalibrationSession(cycle_id=uuid.UUID(seeded.cycle_id), org_unit=org_unit, status="open")
        session.add(calibration)
        await session.flush()
        return str(calibration.id)
