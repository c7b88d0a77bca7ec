"""Issue 15.8: the worked examples of docs/review-cycles.md are the OpenAPI's, valid, and the app takes them."""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from meritloop.demo import demo_template
from services.reviews.cycles.schemas import (
    ACKNOWLEDGEMENT_EXAMPLE,
    ANSWERS_EXAMPLE,
    CYCLE_EXAMPLE,
    Answers,
    CycleWrite,
)
from services.reviews.cycles.service import CycleService, InboxService
from services.reviews.models import ReviewTask
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, sessionmaker_of
from tests.cycles.support import add_person
from tests.reviews_config.builders import scale_body

DOC = (Path(__file__).parents[2] / "docs" / "review-cycles.md").read_text()


def json_blocks_under(heading: str) -> list[Any]:
    """The ```json blocks of the section that starts with this heading, up to the next heading."""
    start = DOC.index(heading + "\n")
    following = re.search(r"^#{1,3} ", DOC[start + len(heading) :], re.MULTILINE)
    section = DOC[start : start + len(heading) + (following.start() if following else len(DOC))]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]


def test_the_documented_examples_are_the_schemas_examples_and_valid() -> None:
    assert json_blocks_under("### A cycle (`POST /review-cycles`)") == [CYCLE_EXAMPLE]
    answers = json_blocks_under("### Answers (`PUT /tasks/{id}/draft`, `POST /tasks/{id}/submit`)")
    assert answers == [ANSWERS_EXAMPLE, ACKNOWLEDGEMENT_EXAMPLE]
    cycle = CycleWrite.model_validate(CYCLE_EXAMPLE)
    assert [step.after.total_seconds() / 3600 for step in cycle.policy().escalation] == [0, 24, 48]
    for body in answers:
        Answers.model_validate(body)


async def test_the_openapi_shows_the_examples(reviews: httpx.AsyncClient) -> None:
    schemas = (await reviews.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["CycleWrite"]["examples"] == [CYCLE_EXAMPLE]
    assert schemas["Answers"]["examples"] == [ANSWERS_EXAMPLE, ACKNOWLEDGEMENT_EXAMPLE]


@pytest.mark.database
async def test_the_app_takes_the_documented_cycle_and_answers(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    hr = auth(Role.hr)
    person = await add_person(reviews, hr, "dana", "Engineering", None)
    scale = await reviews.post("/rating-scales", json=scale_body(), headers=hr)
    template = await reviews.post("/templates", json=demo_template(scale.json()["id"]), headers=hr)
    assert (await reviews.post(f"/templates/{template.json()['id']}/publish", headers=hr)).status_code == 200
    body = copy.deepcopy(CYCLE_EXAMPLE)
    body["template_id"] = template.json()["id"]  # the example's id stands for "a published template"

    created = await reviews.post("/review-cycles", json=body, headers=hr)

    assert created.status_code == 201, created.text
    cycle = created.json()
    assert cycle["guideline"] == CYCLE_EXAMPLE["guideline"]
    steps = cycle["schedule"]["steps"]["self_assessment"]
    assert [e["notify"] for e in steps["policy"]["escalation"]] == ["manager", "skip_level", "hr"]
    # The documented answers fit the demo template the example names.
    async with sessionmaker_of(reviews)() as session, session.begin():
        await CycleService(session, settings).launch(uuid.UUID(cycle["id"]))
    seeded = Seeded(reviews, auth, settings, cycle_id=cycle["id"])
    mine = auth(Role.employee, person_id=uuid.UUID(person))
    for step, example in (("self_assessment", ANSWERS_EXAMPLE), ("acknowledgement", ACKNOWLEDGEMENT_EXAMPLE)):
        task = await seeded.add_task(person, step)
        saved = await reviews.put(f"/tasks/{task}/draft", json=example, headers=mine)
        assert saved.status_code == 200, saved.text
        async with sessionmaker_of(reviews)() as session:  # complete enough to submit, too
            row = await session.get(ReviewTask, task)
            assert row is not None
            await InboxService(session).check_answers(row, Answers.model_validate(example), final=True)
    service_check = await reviews.put(
        f"/tasks/{task}/draft", json={"answers": [{"item": "impact", "value": 4}]}, headers=mine
    )
    assert service_check.status_code == 422  # an acknowledgement takes only a comment: the check is real
