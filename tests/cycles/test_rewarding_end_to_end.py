"""Issue 11's whole chain in one real review cycle: reviews, rewards, the workflow worker as a
process of its own, the Temporal dev server and NATS.

The organisation: Vic (VP) <- Dora (director) <- Mia (manager, in Mgmt) <- ten reports in Eng,
the cycle's participants. Five women and five men on two job levels, paid 40,000-60,000 on one
band (midpoint 50,000). Calibration moves the ratings to ``RATINGS`` and sets a potential for
each; HR reads the 9-box and posts the session's ratings to the live-impact route; the proposals
follow the matrix, carry the bonus plan's bonus and are held to the unit's pools; Mia's proposals
go up a two-level chain (Dora, Vic, then HR) whose first step runs late and escalates once;
every employee reads their own statement and no one else's. Every figure is worked out here.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from shared.auth import Role
from shared.database import utcnow
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import add_person, phase_deadlines, ready
from tests.reviews_config.builders import scale_body, template_body
from tests.rewards.support import MATRIX, band
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

SECOND = 1 / 3600  # in hours, the unit of the approval policy
CENT = Decimal("0.01")
ANSWERS: dict[str, Any] = {
    "answers": [{"item": "craft", "value": 4}, {"item": "ownership", "value": 3}, {"item": "impact", "value": 4}]
}

# (gender, job level, base salary, calibrated rating, potential, hire date or None: before 2026)
PEOPLE: list[tuple[str, str, int, int, int, date | None]] = [
    ("female", "L1", 40_000, 5, 3, None),
    ("female", "L1", 42_000, 4, 2, None),
    ("male", "L1", 45_000, 3, 2, None),
    ("male", "L1", 48_000, 4, 3, None),
    ("female", "L2", 50_000, 3, 1, date(2026, 7, 1)),  # half a year: bonus prorated 184/365
    ("female", "L2", 52_000, 4, 2, None),
    ("female", "L2", 54_000, 2, 1, None),
    ("male", "L2", 55_000, 5, 3, None),
    ("male", "L2", 58_000, 3, 2, None),
    ("male", "L2", 60_000, 4, 2, None),
]
MERIT_PCT, BONUS_PCT = Decimal(3), Decimal(12)
BONUS_PLAN: dict[str, Any] = {
    "targets": {"L1": "5", "L2": "10"},
    "multipliers": [
        {"min": "1", "max": "3", "multiplier": "0.5"},
        {"min": "3", "max": "4", "multiplier": "1.0"},
        {"min": "4", "max": "5", "multiplier": "1.5"},
    ],
    "company_factor": "1.2",
    "period_start": "2026-01-01",
    "period_end": "2026-12-31",
    "max_deviation_pct": "20",
}


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def matrix_target(rating: int, salary: int) -> Decimal:
    """The MATRIX cell's target: rating rows [1,2) [2,3) [3,4) [4,5]; compa-ratio buckets <0.9, <1.1, more."""
    row = min(rating, 4) - 1
    ratio = Decimal(salary) / Decimal(50_000)
    bucket = 0 if ratio < Decimal("0.9") else 1 if ratio < Decimal("1.1") else 2
    return Decimal(MATRIX["cells"][row][bucket]["target"])


def bonus(level: str, salary: int, rating: int, hired: date | None) -> Decimal:
    multiplier = Decimal("0.5") if rating < 3 else Decimal("1.0") if rating < 4 else Decimal("1.5")
    proration = Decimal(1)
    if hired is not None:
        days = (date(2026, 12, 31) - hired).days + 1
        proration = (Decimal(days) / Decimal(365)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    target = Decimal(BONUS_PLAN["targets"][level])
    return half_up(Decimal(salary) * target / 100 * multiplier * Decimal("1.2") * proration)


def increase(rating: int, salary: int, pct: Decimal | None = None) -> Decimal:
    return half_up(Decimal(salary) * (pct if pct is not None else matrix_target(rating, salary)) / 100)


def third(value: int, low: int, high: int) -> str:
    position = (value - low) / (high - low)
    return "low" if position < 1 / 3 else "high" if position > 2 / 3 else "middle"


def adjusted_gap(pay: list[float]) -> float:
    """(1 - exp(b_female)) x 100 with job level as the control. Each level is half women, so
    b_female is the head-count-weighted mean of the levels' differences in mean log pay."""
    weighted, people = 0.0, 0
    for level in ("L1", "L2"):
        rows = [(g, math.log(p)) for (g, lv, *_), p in zip(PEOPLE, pay, strict=True) if lv == level]
        women = [y for g, y in rows if g == "female"]
        men = [y for g, y in rows if g == "male"]
        assert len(women) == len(men)
        weighted += len(rows) * (sum(women) / len(women) - sum(men) / len(men))
        people += len(rows)
    return (1 - math.exp(weighted / people)) * 100


async def test_ratings_calibration_pay_chain_and_statements(
    service_client: ServiceClientFactory, auth: TokenFactory, cycle_worker: WorkerFactory
) -> None:
    hr_id = uuid.uuid4()
    hr = auth(Role.hr, person_id=hr_id)
    async with service_client("reviews") as reviews, service_client("rewards") as rewards, cycle_worker():
        # --- the organisation and its pay ---------------------------------------------------
        vic = await add_person(reviews, hr, "vic", "Exec", None)
        dora = await add_person(reviews, hr, "dora", "Exec", vic)
        mia = await add_person(reviews, hr, "mia", "Mgmt", dora)
        staff = [await add_person(reviews, hr, f"emp{n}", "Eng", mia) for n in range(len(PEOPLE))]
        row_of = dict(zip(staff, PEOPLE, strict=True))

        def manager(person: str) -> dict[str, str]:
            return auth(Role.manager, person_id=uuid.UUID(person))

        def employee(person: str) -> dict[str, str]:
            return auth(Role.employee, person_id=uuid.UUID(person))

        scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
        template = (await reviews.post("/templates", json=template_body(scale["id"]), headers=hr)).json()
        assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr)).status_code == 200

        assert (
            await rewards.post("/pay-bands", json=band("G1", "EUR", "40000", "50000", "60000"), headers=hr)
        ).status_code == 201
        policy = await rewards.patch("/rewards-policy", json={"equity_controls": ["job_level"]}, headers=hr)
        assert policy.status_code == 200, policy.text
        effective = (utcnow() - timedelta(days=30)).date().isoformat()
        records = [
            {
                "person_id": person,
                "currency": "EUR",
                "base_salary": str(salary),
                "grade": "G1",
                "effective_date": effective,
                "job_level": level,
                "gender": gender,
                "hire_date": (hired or date(2020, 3, 1)).isoformat(),
            }
            for person, (gender, level, salary, _, _, hired) in row_of.items()
        ]

        async def imported() -> bool:
            # rewards learns the people from the reviews stream
            response = await rewards.post("/compensation/import", json={"records": records}, headers=hr)
            if response.status_code == 422 and "no person with this id" in response.text:
                return False
            assert response.status_code in (200, 201), response.text
            assert response.json()["created"] == len(records)
            return True

        await wait_until(imported, timeout=30, interval=0.2, message="rewards knows the people")
        assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
        # Gender is HR's to read, not the person's own.
        own = await rewards.get(f"/compensation/{staff[0]}", headers=employee(staff[0]))
        assert own.status_code == 200, own.text
        assert own.json()["gender"] is None
        assert (await rewards.get(f"/compensation/{staff[0]}", headers=hr)).json()["gender"] == "female"

        # --- the cycle: launch, self-assessments, manager reviews ------------------------------
        body: dict[str, Any] = {
            "name": "2026 rewards",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "template_id": template["id"],
            "filters": {"departments": ["Eng"]},
            "deadlines": phase_deadlines(utcnow()),
            "escalation": [],
        }
        created = await reviews.post("/review-cycles", json=body, headers=hr)
        assert created.status_code == 201, created.text
        cycle = created.json()["id"]
        launched = await reviews.post(f"/review-cycles/{cycle}/launch", headers=hr)
        assert launched.status_code == 200, launched.text
        assert launched.json()["participant_count"] == len(staff)
        plan = await rewards.put(f"/cycles/{cycle}/bonus-plan", json=BONUS_PLAN, headers=hr)
        assert plan.status_code in (200, 201), plan.text

        async def tasks(kind: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = await wait_until(
                lambda: ready(reviews, hr, cycle, kind, count), timeout=timeout, message=f"{count} {kind} tasks"
            )
            return found

        for task in await tasks("self_assessment", len(staff)):
            done = await reviews.post(
                f"/tasks/{task['id']}/submit", json=ANSWERS, headers=employee(task["assignee_id"])
            )
            assert done.status_code == 200, done.text
        for task in await tasks("manager_review", len(staff)):
            assert task["assignee_id"] == mia
            done = await reviews.post(f"/tasks/{task['id']}/submit", json=ANSWERS, headers=manager(mia))
            assert done.status_code == 200, done.text

        # --- calibration: ratings and potentials set, the 9-box read ------------------------
        async def one_session() -> list[Any] | None:
            response = await reviews.get(f"/review-cycles/{cycle}/calibration-sessions", headers=hr)
            found: list[Any] = response.json() if response.status_code == 200 else []
            return found or None

        (session,) = await wait_until(one_session, timeout=60, message="the calibration session")
        session_url = f"/calibration-sessions/{session['id']}"
        detail = (await reviews.get(session_url, headers=hr)).json()
        proposed = {row["person_id"]: int(float(row["proposed_rating"])) for row in detail["rows"]}
        assert set(proposed) == set(staff)
        for person, (_, _, _, rating, potential, _) in row_of.items():
            if rating != proposed[person]:
                moved = await reviews.post(
                    f"{session_url}/adjustments",
                    json={"person_id": person, "to_rating": rating, "reason": "Calibrated against peers"},
                    headers=hr,
                )
                assert moved.status_code == 201, moved.text
            placed = await reviews.post(
                f"{session_url}/adjustments",
                json={"person_id": person, "to_rating": potential, "reason": "Potential agreed", "kind": "potential"},
                headers=hr,
            )
            assert placed.status_code == 201, placed.text
        rows = {row["person_id"]: row for row in (await reviews.get(session_url, headers=hr)).json()["rows"]}
        assert {p: int(float(r["final_rating"])) for p, r in rows.items()} == {p: r[3] for p, r in row_of.items()}

        nine_box = await reviews.get(f"{session_url}/nine-box", headers=hr)
        assert nine_box.status_code == 200, nine_box.text
        expected_cells: dict[tuple[str, str], set[str]] = {}
        for person, (_, _, _, rating, potential, _) in row_of.items():
            expected_cells.setdefault((third(rating, 1, 5), third(potential, 1, 3)), set()).add(person)
        cells = {(c["performance"], c["potential"]): c for c in nine_box.json()["cells"]}
        assert len(cells) == 9
        for key, cell in cells.items():
            assert set(cell["person_ids"]) == expected_cells.get(key, set()), key
            assert cell["count"] == len(expected_cells.get(key, set()))
        # high performance x high potential: the 5s and the 4 with potential 3
        assert cells[("high", "high")]["count"] == 3
        assert nine_box.json()["unplaced"] == []
        assert_problem(await reviews.get(f"{session_url}/nine-box", headers=manager(mia)), 403)

        # --- live impact of the session's ratings --------------------------------------------
        posted = [
            {"person_id": p, "rating": r[3], "org_unit": "Eng", "previous_rating": proposed[p]}
            if r[3] != proposed[p]
            else {"person_id": p, "rating": r[3], "org_unit": "Eng"}
            for p, r in row_of.items()
        ]
        impact = await rewards.post(
            f"/cycles/{cycle}/calibration-impact",
            json={
                "scale_min": 1,
                "scale_max": 5,
                "currency": "EUR",
                "merit_budget_pct": str(MERIT_PCT),
                "bonus_budget_pct": str(BONUS_PCT),
                "ratings": posted,
            },
            headers=hr,
        )
        assert impact.status_code == 200, impact.text
        live = impact.json()
        payroll = Decimal(sum(r[2] for r in PEOPLE))
        merit_spend = sum(increase(r[3], r[2]) for r in PEOPLE)
        bonus_spend = sum(bonus(r[1], r[2], r[3], r[5]) for r in PEOPLE)
        # Worked out: payroll 504,000; matrix increases 15,355.00 against a 3 % pool of 15,120.00;
        # bonuses 57,684.60 against a 12 % pool of 60,480.00.
        assert (payroll, merit_spend, bonus_spend) == (Decimal(504_000), Decimal("15355.00"), Decimal("57684.60"))
        assert (live["priced"], live["unpriced"], live["bonus_plan"]) == (10, {}, True)
        (unit,) = live["units"]
        assert unit["org_unit"] == "Eng"
        assert Decimal(unit["payroll"]) == payroll
        assert Decimal(unit["merit_budget"]) == Decimal("15120.00")
        assert Decimal(unit["merit_spend"]) == merit_spend
        assert Decimal(unit["merit_remaining"]) == Decimal("-235.00")
        assert Decimal(unit["bonus_budget"]) == Decimal("60480.00")
        assert Decimal(unit["bonus_spend"]) == bonus_spend
        assert unit["over_budget"] == ["merit"]
        changed = {p for p, r in row_of.items() if r[3] != proposed[p]}
        assert {a["person_id"] for a in live["adjustments"]} == changed
        for adjustment in live["adjustments"]:
            _, level, salary, rating, _, hired = row_of[adjustment["person_id"]]
            before = proposed[adjustment["person_id"]]
            assert Decimal(adjustment["merit_increase"]) == increase(rating, salary)
            assert Decimal(adjustment["merit_change"]) == increase(rating, salary) - increase(before, salary)
            assert Decimal(adjustment["bonus"]) == bonus(level, salary, rating, hired)
            assert Decimal(adjustment["bonus_change"]) == bonus(level, salary, rating, hired) - bonus(
                level, salary, before, hired
            )
        pay_gap = live["pay_gap"]
        assert pay_gap["controls"] == ["job_level"]
        base = [float(r[2]) for r in PEOPLE]
        after = [float(r[2] + increase(r[3], r[2])) for r in PEOPLE]
        assert (pay_gap["before"]["women"], pay_gap["before"]["men"]) == (5, 5)
        assert float(pay_gap["before"]["adjusted_gap_pct"]) == pytest.approx(adjusted_gap(base), abs=0.006)
        assert float(pay_gap["after"]["adjusted_gap_pct"]) == pytest.approx(adjusted_gap(after), abs=0.006)
        # The matrix gives the lower paid (here more often women) the larger %: the gap narrows.
        assert adjusted_gap(after) < adjusted_gap(base)

        finalized = await reviews.post(f"{session_url}/finalize", headers=hr)
        assert finalized.status_code == 200, finalized.text

        # --- proposals with bonus, held to the unit's pools ----------------------------------
        for task in await tasks("pay_review", len(staff), timeout=90):
            done = await reviews.post(f"/tasks/{task['id']}/submit", json={}, headers=manager(task["assignee_id"]))
            assert done.status_code == 200, done.text

        async def drafts() -> dict[str, dict[str, Any]] | None:
            response = await rewards.get(f"/cycles/{cycle}/proposals", params={"limit": 50}, headers=hr)
            items: list[dict[str, Any]] = response.json()["items"] if response.status_code == 200 else []
            ok = len(items) == len(staff) and {i["status"] for i in items} == {"draft"}
            return {i["person_id"]: i for i in items} if ok else None

        proposals = await wait_until(drafts, timeout=30, message="ten draft proposals")
        for person, item in proposals.items():
            _, level, salary, rating, _, hired = row_of[person]
            assert Decimal(item["proposed_pct"]) == matrix_target(rating, salary)
            assert Decimal(item["bonus_computed"]) == bonus(level, salary, rating, hired)
            assert Decimal(item["bonus_amount"]) == bonus(level, salary, rating, hired)
        updated = await rewards.patch(
            f"/cycles/{cycle}", json={"budget_pct": str(MERIT_PCT), "bonus_budget_pct": str(BONUS_PCT)}, headers=hr
        )
        assert updated.status_code == 200, updated.text

        async def unit_summary() -> dict[str, Any]:
            response = await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        summary = await unit_summary()
        assert Decimal(summary["currencies"][0]["proposed_increase"]) == merit_spend
        assert Decimal(summary["currencies"][0]["remaining"]) == Decimal("-235.00")
        assert Decimal(summary["bonus"][0]["proposed_increase"]) == bonus_spend

        def edit(person: str, **change: str) -> Any:
            return rewards.patch(f"/proposals/{proposals[person]['id']}", json=change, headers=manager(mia))

        # Over the merit pool already, so Mia lowers first (always allowed): 55,000 at 2 % instead of 3 %.
        emp6, emp7, emp9, emp5 = staff[6], staff[7], staff[9], staff[5]
        assert problem_fields(await edit(emp6, proposed_pct="1")) == {"proposed_pct"}  # +270: still over
        lowered = await edit(emp7, proposed_pct="2")
        assert lowered.status_code == 200, lowered.text
        assert lowered.json()["budget_scope"] == "own_reports"
        spend = merit_spend - Decimal(550)  # 14,805.00
        assert Decimal(lowered.json()["budget"]["proposed_increase"]) == spend
        raised = await edit(emp6, proposed_pct="1")  # +270: 15,075.00 within 15,120.00
        assert raised.status_code == 200, raised.text
        spend += Decimal(270)
        assert Decimal(raised.json()["budget"]["remaining"]) == Decimal("45.00")
        assert problem_fields(await edit(emp9, proposed_pct="4")) == {"proposed_pct"}  # +600: over the pool
        # Bonus: within 20 % of the computed 9,360.00, with a reason; 12,000 is beyond it.
        # (an edit always names the merit %: 52,000 at the matrix's 4 %)
        assert problem_fields(await edit(emp5, proposed_pct="4", bonus_amount="10000.00")) == {"bonus_reason"}
        too_much = await edit(emp5, proposed_pct="4", bonus_amount="12000.00", bonus_reason="Key hire")
        assert problem_fields(too_much) == {"bonus_amount"}
        deviated = await edit(emp5, proposed_pct="4", bonus_amount="10000.00", bonus_reason="Led the migration")
        assert deviated.status_code == 200, deviated.text
        bonus_spend += Decimal("640.00")
        summary = await unit_summary()
        assert Decimal(summary["currencies"][0]["proposed_increase"]) == spend == Decimal("15075.00")
        assert Decimal(summary["bonus"][0]["proposed_increase"]) == bonus_spend == Decimal("58324.60")
        assert Decimal(summary["bonus"][0]["remaining"]) == Decimal("2155.40")

        # --- the approval chain: Mia -> Dora -> Vic -> HR; Dora's step escalates once --------
        chain_policy = await rewards.put(
            f"/cycles/{cycle}/approval-policy",
            json={
                "depth": 2,
                "hr_owner_id": str(hr_id),
                "step_hours": 10 * SECOND,  # Vic and HR answer well within it: one escalation only
                "reminder_every_hours": 1,
                "escalation": [{"after_hours": SECOND, "notify": "manager"}],
            },
            headers=hr,
        )
        assert chain_policy.status_code == 200, chain_policy.text
        chains = f"/cycles/{cycle}/approval-chains"
        started = await rewards.post(chains, json={}, headers=manager(mia))
        assert started.status_code == 201, started.text
        chain_url = f"{chains}/{mia}"

        async def chain_where(test: Any) -> dict[str, Any]:
            async def there() -> dict[str, Any] | None:
                found: dict[str, Any] = (await rewards.get(chain_url, headers=hr)).json()
                return found if test(found) else None

            found: dict[str, Any] = await wait_until(there, timeout=30, interval=0.2, message="the chain")
            return found

        chain = await chain_where(lambda c: c["current_step"] == 1)
        assert [(s["assignee_id"], s["final"]) for s in chain["steps"]] == [
            (mia, False),
            (dora, False),
            (vic, False),
            (None, True),
        ]
        chain = await chain_where(lambda c: any(e["action"] == "escalated" for e in c["audit"]))
        assert (chain["current_status"], chain["overdue"]) == ("escalated", True)

        async def decide(headers: dict[str, str]) -> None:
            decided = await rewards.post(f"{chain_url}/decisions", json={"action": "approve"}, headers=headers)
            assert decided.status_code == 200, decided.text

        await decide(manager(dora))
        await chain_where(lambda c: c["current_step"] == 2)
        assert_problem(await rewards.post(f"{chain_url}/decisions", json={"action": "approve"}, headers=hr), 403)
        await decide(manager(vic))
        await chain_where(lambda c: c["current_step"] == 3)
        await decide(hr)
        chain = await chain_where(lambda c: c["status"] == "approved")
        escalations = [e for e in chain["audit"] if e["action"] == "escalated"]
        assert [(e["step_index"], e["notified_id"]) for e in escalations] == [(1, vic)]
        approvals = [(e["step_index"], e["actor_id"]) for e in chain["audit"] if e["action"] == "approved"]
        assert approvals == [(1, dora), (2, vic), (3, str(hr_id))]
        summary = await unit_summary()
        assert summary["approved"] is True
        assert {status: n for status, n in summary["status_counts"].items() if n} == {"approved": len(staff)}

        # --- statements: each employee reads their own, nobody else's ------------------------
        for person, (_, level, salary, rating, _, hired) in row_of.items():
            pct = {emp7: Decimal(2), emp6: Decimal(1)}.get(person, matrix_target(rating, salary))
            paid_bonus = Decimal("10000.00") if person == emp5 else bonus(level, salary, rating, hired)
            mine = await rewards.get(f"/me/statements/{cycle}", headers=employee(person))
            assert mine.status_code == 200, mine.text
            statement = mine.json()
            assert statement["person_id"] == person
            assert Decimal(statement["previous_salary"]) == salary
            assert Decimal(statement["increase_pct"]) == pct
            assert Decimal(statement["increase_amount"]) == increase(rating, salary, pct)
            assert Decimal(statement["new_salary"]) == salary + increase(rating, salary, pct)
            assert Decimal(statement["bonus_amount"]) == paid_bonus
            assert Decimal(statement["total_cash"]) == salary + increase(rating, salary, pct) + paid_bonus
            history = (await rewards.get("/me/statements", headers=employee(person))).json()
            assert [s["person_id"] for s in history["statements"]] == [person]
        first = (await rewards.get(f"/me/statements/{cycle}", headers=employee(staff[0]))).json()
        # 40,000 at 5 %: 42,000.00; bonus 40,000 x 5 % x 1.5 x 1.2 = 3,600.00; total cash 45,600.00
        assert [Decimal(first[k]) for k in ("new_salary", "bonus_amount", "total_cash")] == [
            Decimal("42000.00"),
            Decimal("3600.00"),
            Decimal("45600.00"),
        ]
        for other in (staff[1], emp5):
            assert_problem(await rewards.get(f"/proposals/{proposals[other]['id']}", headers=employee(staff[0])), 404)
        assert (await rewards.get(f"/compensation/{emp5}", headers=employee(staff[0]))).status_code in (403, 404)
        assert_problem(await rewards.get(f"/me/statements/{cycle}", headers=manager(mia)), 404)  # not in the cycle

        # --- the review cycle goes on: acknowledgements, closed ------------------------------
        for task in await tasks("acknowledgement", len(staff), timeout=90):
            done = await reviews.post(f"/tasks/{task['id']}/submit", json={}, headers=employee(task["assignee_id"]))
            assert done.status_code == 200, done.text

        async def closed() -> dict[str, Any] | None:
            found: dict[str, Any] = (await reviews.get(f"/review-cycles/{cycle}", headers=hr)).json()
            return found if found["status"] == "closed" else None

        assert (await wait_until(closed, timeout=90, message="cycle closed"))["phase"] == "closed"
        assert Counter(e["action"] for e in chain["audit"])["escalated"] == 1
