"""Review templates over HTTP: drafts, validation paths, rights, publishing, versions, previews."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.reviews.models import ReviewTemplate
from services.reviews.templates.schemas import Respondent
from services.reviews.templates.scoring import Rating, score_review
from services.reviews.templates.service import TEMPLATE_PUBLISHED, TemplateService
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.reviews_config.builders import template_body
from tests.reviews_config.support import create_scale, errors_by_field, events, sessionmaker_of
from tests.support.http import assert_problem

pytestmark = pytest.mark.database


async def _draft(client: httpx.AsyncClient, hr: dict[str, str], **changes: Any) -> dict[str, Any]:
    scale = await create_scale(client, hr)
    response = await client.post("/templates", json={**template_body(scale["id"]), **changes}, headers=hr)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_draft_is_created_read_changed_and_deleted(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr, employee = auth(Role.hr), auth(Role.employee)
    draft = await _draft(reviews, hr)
    assert (draft["status"], draft["version"], draft["formula"]) == ("draft", 1, None)
    assert draft["effective_formula"] == "weighted(goals: 40, competencies: 30, manager: 15, self: 15)"
    assert [s["key"] for s in draft["sections"]] == ["goals", "skills", "questions"]
    assert draft["sections"][1]["items"][1]["weight"] == 1.0
    assert draft["sections"][2]["items"][1]["weight"] is None
    assert len(draft["scale_ids"]) == 1
    assert (await reviews.get(f"/templates/{draft['id']}", headers=employee)).json() == draft

    body = template_body(draft["scale_ids"][0], formula="weighted(goals: 1, competencies: 1)", name="Mid-year")
    changed = await reviews.put(f"/templates/{draft['id']}", json=body, headers=hr)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["effective_formula"]) == ("Mid-year", body["formula"])

    assert (await reviews.delete(f"/templates/{draft['id']}", headers=hr)).status_code == 204
    assert_problem(await reviews.get(f"/templates/{draft['id']}", headers=employee), 404)
    # Its scale is free again.
    assert (await reviews.delete(f"/rating-scales/{draft['scale_ids'][0]}", headers=hr)).status_code == 204


async def test_validation_errors_name_the_field_path(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    scale = await create_scale(reviews, hr)
    body = template_body(scale["id"], formula="weighted(goals: 1, compteencies: 1)")
    body["sections"][1]["items"][0]["scale_id"] = str(uuid.uuid4())
    body["sections"][2]["items"][1]["weight"] = 2
    body["sections"].append({"title": "More goals", "kind": "goals", "weight": 1, "answered_by": "self"})
    response = await reviews.post("/templates", json=body, headers=hr)
    errors = errors_by_field(response)
    assert set(errors) == {"sections[1].items[0].scale_id", "sections[2].items[1].weight", "sections[3].kind"}
    assert response.json()["detail"].startswith("The template is invalid: sections[1].items[0].scale_id")

    body = template_body(scale["id"], formula="weighted(goals: 1, compteencies: 1)")
    formula = errors_by_field(await reviews.post("/templates", json=body, headers=hr))["formula"]
    assert formula.startswith("position 20: unknown name 'compteencies'")
    body = template_body(scale["id"])
    body["sections"][0]["kind"] = "bonus"
    assert "sections.0.kind" in errors_by_field(await reviews.post("/templates", json=body, headers=hr))


async def test_only_hr_and_admins_write_templates(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    draft = await _draft(reviews, hr)
    body = template_body(draft["scale_ids"][0])
    for headers in (auth(Role.employee), auth(Role.manager)):
        assert_problem(await reviews.post("/templates", json=body, headers=headers), 403)
        assert_problem(await reviews.put(f"/templates/{draft['id']}", json=body, headers=headers), 403)
        assert_problem(await reviews.delete(f"/templates/{draft['id']}", headers=headers), 403)
        for action in ("publish", "archive", "versions"):
            assert_problem(await reviews.post(f"/templates/{draft['id']}/{action}", headers=headers), 403)
        preview = await reviews.post(f"/templates/{draft['id']}/score-preview", json={}, headers=headers)
        assert_problem(preview, 403)
        assert (await reviews.get("/templates", headers=headers)).status_code == 200
    admin = auth(Role.admin)
    assert (await reviews.post(f"/templates/{draft['id']}/publish", headers=admin)).status_code == 200


async def test_published_versions_are_frozen_and_change_through_new_versions(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    first = await _draft(reviews, hr)
    published = await reviews.post(f"/templates/{first['id']}/publish", headers=hr)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None

    body = template_body(first["scale_ids"][0], name="Changed")
    refused = assert_problem(await reviews.put(f"/templates/{first['id']}", json=body, headers=hr), 409)
    assert f"/templates/{first['id']}/versions" in refused["detail"]
    assert refused["template_status"] == "published"
    assert_problem(await reviews.delete(f"/templates/{first['id']}", headers=hr), 409)
    assert_problem(await reviews.post(f"/templates/{first['id']}/publish", headers=hr), 409)

    second = (await reviews.post(f"/templates/{first['id']}/versions", headers=hr)).json()
    assert (second["family_id"], second["version"], second["status"]) == (first["family_id"], 2, "draft")
    assert second["sections"] == first["sections"]  # keys stay: answers line up across versions
    again = assert_problem(await reviews.post(f"/templates/{first['id']}/versions", headers=hr), 409)
    assert again["draft_id"] == second["id"]
    assert (await reviews.put(f"/templates/{second['id']}", json=body, headers=hr)).status_code == 200
    assert (await reviews.post(f"/templates/{second['id']}/publish", headers=hr)).status_code == 200

    old = (await reviews.get(f"/templates/{first['id']}", headers=hr)).json()
    assert (old["status"], old["name"]) == ("archived", "Annual review")
    assert await events(reviews, TEMPLATE_PUBLISHED) == [
        {"id": first["id"], "version": 1},
        {"id": second["id"], "version": 2},
    ]
    archived = await reviews.post(f"/templates/{second['id']}/archive", headers=hr)
    assert archived.json()["status"] == "archived"
    third = (await reviews.post(f"/templates/{second['id']}/versions", headers=hr)).json()
    assert third["version"] == 3
    assert_problem(await reviews.post(f"/templates/{third['id']}/archive", headers=hr), 409)


async def test_listing_filters_and_pages(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    scale = await create_scale(reviews, hr)
    ids = {}
    for name in ("Annual review", "Probation review", "Annual 50% check"):
        response = await reviews.post("/templates", json=template_body(scale["id"], name=name), headers=hr)
        ids[name] = response.json()["id"]
    await reviews.post(f"/templates/{ids['Probation review']}/publish", headers=hr)
    version = (await reviews.post(f"/templates/{ids['Probation review']}/versions", headers=hr)).json()

    async def names(**params: Any) -> tuple[int, list[str]]:
        page = (await reviews.get("/templates", params=params, headers=auth(Role.employee))).json()
        return page["total"], [f"{item['name']} v{item['version']}" for item in page["items"]]

    assert await names() == (
        4,
        ["Annual 50% check v1", "Annual review v1", "Probation review v2", "Probation review v1"],
    )
    assert await names(status="published") == (1, ["Probation review v1"])
    assert await names(status="draft", q="annual") == (2, ["Annual 50% check v1", "Annual review v1"])
    assert await names(q="50%") == (1, ["Annual 50% check v1"])
    assert await names(family_id=version["family_id"]) == (2, ["Probation review v2", "Probation review v1"])
    assert await names(limit=2, offset=1) == (4, ["Annual review v1", "Probation review v2"])
    assert_problem(await reviews.get("/templates", params={"status": "open"}, headers=hr), 422)


async def test_score_preview_stores_nothing(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    draft = await _draft(reviews, hr)
    url = f"/templates/{draft['id']}/score-preview"
    response = await reviews.post(url, json={"components": {"goals": 80, "competencies": 60, "self": None}}, headers=hr)
    assert response.status_code == 200, response.text
    record = response.json()
    # self and manager missing: goals 40 and competencies 30 are re-normalised to 4/7 and 3/7.
    assert record["score"] == pytest.approx(80 * 4 / 7 + 60 * 3 / 7, abs=1e-4)
    assert record["formula"] == draft["effective_formula"]
    assert record["formula_version"].startswith("draft:")
    assert record["inputs"]["components"] == {
        "goals": 80.0,
        "self": None,
        "manager": None,
        "competencies": 60.0,
        "peer": None,
    }
    terms = record["inputs"]["weights"][0]["terms"]
    assert {t["expression"]: t["share"] for t in terms} == pytest.approx(
        {"goals": 4 / 7, "competencies": 3 / 7, "manager": 0, "self": 0}, abs=1e-6
    )

    ratings = [
        {"item": "craft", "by": "manager", "value": 5},
        {"item": "ownership", "by": "manager", "value": 2},
        {"item": "impact", "by": "self", "value": 3},
        {"item": "impact", "by": "manager", "value": 4},
    ]
    computed = (await reviews.post(url, json={"ratings": ratings, "components": {"goals": 50}}, headers=hr)).json()
    assert computed["inputs"]["components"] == {
        "goals": 50.0,
        "self": 50.0,
        "manager": 75.0,
        "competencies": pytest.approx(75.0),
        "peer": None,
    }
    assert computed["score"] == pytest.approx(0.4 * 50 + 0.3 * 75 + 0.15 * 75 + 0.15 * 50)

    bad = errors_by_field(await reviews.post(url, json={"ratings": [{**ratings[0], "value": 9}]}, headers=hr))
    assert "not a point of the scale" in bad["ratings[0].value"]
    assert "components.bonus" in errors_by_field(await reviews.post(url, json={"components": {"bonus": 1}}, headers=hr))
    unchanged = (await reviews.get(f"/templates/{draft['id']}", headers=hr)).json()
    assert unchanged == draft


async def test_cycles_score_a_review_with_the_frozen_template(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    """The function the cycles work calls: scoring_spec(template id) then score_review(...)."""
    hr = auth(Role.hr)
    draft = await _draft(reviews, hr, formula="clamp(weighted(goals: 0.5, competencies: 0.5), 0, 100)")
    async with sessionmaker_of(reviews)() as session:
        service = TemplateService(session)
        with pytest.raises(Exception, match="draft"):
            await service.scoring_spec(uuid.UUID(draft["id"]))
    await reviews.post(f"/templates/{draft['id']}/publish", headers=hr)
    # The scale's name may change later; the published version scores with what it froze.
    async with sessionmaker_of(reviews)() as session:
        spec = await TemplateService(session).scoring_spec(uuid.UUID(draft["id"]))
        template = await session.get(ReviewTemplate, uuid.UUID(draft["id"]))
        assert template is not None
        assert template.scales is not None
        assert list(template.scales) == draft["scale_ids"]
    ratings = [Rating("craft", Respondent.manager, 4), Rating("ownership", Respondent.manager, 4)]
    record = score_review(spec, ratings, goals=90.0)
    assert record.score == pytest.approx(82.5)
    assert record.formula_version == f"v1:{record.formula_hash[:16]}"
    assert record.template_id == uuid.UUID(draft["id"])
    preview = await reviews.post(
        f"/templates/{draft['id']}/score-preview",
        json={
            "components": {"goals": 90},
            "ratings": [{"item": r.item, "by": r.by, "value": r.value} for r in ratings],
        },
        headers=hr,
    )
    assert preview.json() == record.model_dump(mode="json")
