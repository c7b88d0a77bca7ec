"""Issue 11, part 5: the potential scale, the 9-box, the guideline deviation and rater leniency.

The expected figures are worked out by hand in each test (docs/review-cycles.md has the formulas).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

import httpx
import pytest

from services.reviews.models import CycleParticipant
from shared.auth import Role
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session, sessionmaker_of
from tests.cycles.support import phase_deadlines

pytestmark = pytest.mark.database


async def _calibrating(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> tuple[Seeded, str]:
    seeded = await Seeded(reviews, auth, settings).build()
    await seeded.set_cycle(phase="calibration")
    return seeded, await open_session(seeded)


async def _add_rows(seeded: Seeded, rows: Sequence[tuple[uuid.UUID, int, int | None]]) -> None:
    """Participants of the Eng session: (manager, proposed rating, final rating)."""
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        for manager, proposed, final in rows:
            session.add(
                CycleParticipant(
                    cycle_id=uuid.UUID(seeded.cycle_id),
                    person_id=uuid.uuid4(),
                    manager_id=manager,
                    org_unit="Eng",
                    proposed_rating=Decimal(proposed),
                    final_rating=None if final is None else Decimal(final),
                )
            )


async def test_nine_box_places_people_by_thirds_of_each_scale(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, session_id = await _calibrating(reviews, auth, settings)
    await seeded.set_participant(seeded.alice, proposed_rating="4", final_rating="4")
    await seeded.set_participant(seeded.bob, proposed_rating="3", final_rating="3")
    await seeded.set_participant(seeded.manager, proposed_rating="2", final_rating="2")
    hr = seeded.hr

    async def potential(person: str, value: str) -> httpx.Response:
        return await reviews.post(
            f"/calibration-sessions/{session_id}/adjustments",
            json={"person_id": person, "to_rating": value, "reason": "Talent review", "kind": "potential"},
            headers=hr,
        )

    off_scale = await potential(seeded.alice, "5")  # a rating point, not a potential point (1-3)
    assert off_scale.status_code == 422, off_scale.text
    assert off_scale.json()["errors"][0]["field"] == "to_rating"
    assert (await potential(seeded.alice, "3")).status_code == 201
    assert (await potential(seeded.bob, "1")).status_code == 201

    box = await reviews.get(f"/calibration-sessions/{session_id}/nine-box", headers=hr)
    assert box.status_code == 200, box.text
    body = box.json()
    cells = {(c["performance"], c["potential"]): c for c in body["cells"]}
    assert len(cells) == 9
    # 1-5: 4 is at (4-1)/4 = 0.75 > 2/3 -> high; 3 at 0.5 -> middle. 1-3: 3 -> high, 1 -> low.
    assert cells[("high", "high")]["person_ids"] == [seeded.alice]
    assert cells[("middle", "low")]["person_ids"] == [seeded.bob]
    assert sum(c["count"] for c in body["cells"]) == body["placed"] == 2
    assert body["unplaced"] == [seeded.manager]  # rated, but no potential yet
    assert [p["label"] for p in body["potential_scale"]] == ["Low", "Moderate", "High"]


async def test_a_cycle_may_bring_its_own_potential_scale(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    body = {
        "name": "2027",
        "period_start": "2027-01-01",
        "period_end": "2027-12-31",
        "template_id": seeded.template_id,
        "deadlines": phase_deadlines(utcnow()),
    }
    scale = [{"value": 0, "label": "Limited"}, {"value": 5, "label": "Growing"}, {"value": 10, "label": "Strong"}]
    created = await reviews.post("/review-cycles", json={**body, "potential_scale": scale}, headers=seeded.hr)
    backwards = await reviews.post(
        "/review-cycles", json={**body, "potential_scale": list(reversed(scale))}, headers=seeded.hr
    )

    assert created.status_code == 201, created.text
    assert [p["value"] for p in created.json()["potential_points"]] == [0, 5, 10]
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"].startswith("potential_scale")


async def test_distribution_shows_its_deviation_from_the_guideline(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, session_id = await _calibrating(reviews, auth, settings)
    guideline = {"Level 1": 10.0, "Level 2": 20.0, "Level 3": 40.0, "Level 4": 20.0, "Level 5": 10.0}
    await seeded.set_cycle(guideline=guideline)
    unrated = (await reviews.get(f"/calibration-sessions/{session_id}", headers=seeded.hr)).json()
    assert unrated["guideline_deviation"] == 0.0  # nobody rated yet
    # Four rated people: 3, 3, 4, 5 -> shares 0, 0, 50, 25, 25.
    await seeded.set_participant(seeded.alice, final_rating="3")
    await seeded.set_participant(seeded.bob, final_rating="3")
    await seeded.set_participant(seeded.manager, final_rating="4")
    await _add_rows(seeded, [(uuid.uuid4(), 5, 5)])

    detail = (await reviews.get(f"/calibration-sessions/{session_id}", headers=seeded.hr)).json()

    assert [b["deviation"] for b in detail["distribution"]] == [-10.0, -20.0, 10.0, 5.0, 15.0]
    # (10 + 20 + 10 + 5 + 15) / 2 = 30 % of the rated people would have to move.
    assert detail["guideline_deviation"] == 30.0


async def test_leniency_is_shrunk_so_a_two_person_team_does_not_raise_a_flag(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, session_id = await _calibrating(reviews, auth, settings)
    big_lenient, small, fair = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    proposed = {
        big_lenient: [5, 5, 3, 5, 3, 4, 5, 2, 5, 3],  # mean 4, squares about it 12
        small: [5, 4],  # mean 4.5, squares 0.5
        fair: [3, 1, 4, 3, 2, 5, 3, 3, 1, 5],  # mean 3, squares 18
    }
    await _add_rows(seeded, [(m, r, 3) for m, ratings in proposed.items() for r in ratings])  # calibrated: all 3

    answer = await reviews.get(f"/calibration-sessions/{session_id}/raters", headers=seeded.hr)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    # N = 22, k = 3; sigma2 = (12 + 0.5 + 18) / (22 - 3) = 30.5 / 19.
    sigma2 = 30.5 / 19
    grand = 79 / 22
    between = 10 * (4 - grand) ** 2 + 2 * (4.5 - grand) ** 2 + 10 * (3 - grand) ** 2
    n0 = (22 - (100 + 4 + 100) / 22) / 2
    tau2 = (between / 2 - sigma2) / n0  # 0.2835
    assert body["population_mean"] == 3.0
    assert body["within_variance"] == pytest.approx(sigma2, abs=1e-4)
    assert body["between_variance"] == pytest.approx(tau2, abs=1e-4)
    assert body["threshold"] == pytest.approx(0.4)  # a tenth of 1..5
    found = {m["manager_id"]: m for m in body["managers"]}
    b_ten, b_two = tau2 / (tau2 + sigma2 / 10), tau2 / (tau2 + sigma2 / 2)
    lenient, pair, even = found[str(big_lenient)], found[str(small)], found[str(fair)]
    assert (lenient["raw_deviation"], lenient["leniency"]) == (1.0, pytest.approx(b_ten * 1.0, abs=1e-4))
    assert lenient["flagged"] is True  # 0.638: ten reports a full point above the calibrated mean
    assert (pair["raw_deviation"], pair["reports"]) == (1.5, 2)
    assert pair["leniency"] == pytest.approx(b_two * 1.5, abs=1e-4)  # 0.391: shrunk below 0.4
    assert pair["flagged"] is False
    assert (even["leniency"], even["flagged"]) == (0.0, False)

    harsher = await reviews.get(f"/calibration-sessions/{session_id}/raters?threshold=0.3", headers=seeded.hr)
    assert {m["manager_id"] for m in harsher.json()["managers"] if m["flagged"]} == {str(big_lenient), str(small)}
    bad = await reviews.get(f"/calibration-sessions/{session_id}/raters?threshold=-1", headers=seeded.hr)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "threshold"


async def test_leniency_without_spread_between_managers_flags_nobody(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, session_id = await _calibrating(reviews, auth, settings)
    one, two = uuid.uuid4(), uuid.uuid4()
    # Means 3.5 and 3.0, within variance (0.25*4 + 1 + 1 + 0 + 0) / (8 - 2) = 0.5; between 8 * 0.0625 = 0.5,
    # MSB 0.5 <= sigma2: tau2 = 0, every manager shrinks to 0.
    await _add_rows(seeded, [(one, r, 2) for r in (3, 4, 3, 4)] + [(two, r, 2) for r in (2, 4, 3, 3)])

    body = (await reviews.get(f"/calibration-sessions/{session_id}/raters", headers=seeded.hr)).json()

    assert body["between_variance"] == 0.0
    assert all(m["leniency"] == 0.0 and not m["flagged"] for m in body["managers"])


@pytest.mark.parametrize("route", ["nine-box", "raters"])
async def test_only_active_hr_and_admins_read_the_insights(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, route: str
) -> None:
    seeded, session_id = await _calibrating(reviews, auth, settings)
    url = f"/calibration-sessions/{session_id}/{route}"
    expected = {
        "self": (seeded.token(seeded.alice), 403),
        "manager": (seeded.token(seeded.manager), 403),
        "skip-level": (seeded.token(seeded.boss), 403),
        "colleague": (seeded.token(seeded.outsider), 403),
        "hr": (seeded.hr, 200),
        "admin": (seeded.admin, 200),
    }
    answers = {who: (await reviews.get(url, headers=headers)).status_code for who, (headers, _) in expected.items()}
    await seeded.deactivate(seeded.outsider)
    answers["deactivated hr"] = (
        await reviews.get(url, headers=auth(Role.hr, person_id=uuid.UUID(seeded.outsider)))
    ).status_code
    missing = (await reviews.get(f"/calibration-sessions/{uuid.uuid4()}/{route}", headers=seeded.hr)).status_code

    assert answers == {**{who: code for who, (_, code) in expected.items()}, "deactivated hr": 403}
    assert missing == 404
