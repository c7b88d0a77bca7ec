"""Calibration's live impact for a 10,000-person session: projected spend per unit and the gap.

    python -m bench.calibration_impact [--people 10000] [--units 20] [--runs 5] [--seed 7]

Stores ``--people`` people (projection, one pay band, compensation records with gender, level,
location and hire date), the tests' merit matrix, a bonus plan and a pay cycle with budgets in
a migrated SQLite database in a temporary folder (not timed). Then, median of ``--runs`` wall
seconds, alternating:

* ours: what ``POST /cycles/{id}/calibration-impact`` does: validate the posted body (every
  person's rating, ten with ``previous_rating``), read the records and the policy, price merit
  and bonus, sum per unit against its pools, the adjusted gap before and after (OLS, controls
  job level, location, tenure), and serialise the answer to JSON;
* bare numpy in the same run: the same arithmetic on arrays already in memory: compa-ratio,
  matrix and multiplier lookups, increases and bonuses, sums per unit, and the two regressions
  by the normal equations. No database, no validation, no JSON.

Both must agree on the total merit spend and the projected adjusted gap before timing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench.rewards_seed import store_pay_cycle, store_population
from services.rewards.calibration_impact.schemas import ImpactRequest
from services.rewards.calibration_impact.service import ImpactService
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.migrations import upgrade_async

BUCKETS = np.array([0.0, 0.9, 1.1])
ROWS = np.array([1.0, 2.0, 3.0, 4.0])
TARGETS = np.array([[0, 0, 0], [1, 0.5, 0], [3, 2.5, 2], [5, 4, 3]], dtype=np.float64)
MULTIPLIERS = np.array([0.5, 1.0, 1.5])
MATRIX: dict[str, Any] = {
    "scale_min": "1",
    "scale_max": "5",
    "buckets": [{"min": "0", "max": "0.9"}, {"min": "0.9", "max": "1.1"}, {"min": "1.1", "max": None}],
    "rows": [{"min": str(low), "max": str(low + 1)} for low in range(1, 5)],
    "cells": [[{"min": "0", "target": str(t), "max": "10"} for t in row] for row in TARGETS.tolist()],
}


def org(people: int, units: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    female = rng.random(people) < 0.5
    level = rng.integers(0, 5, people)
    location = rng.integers(0, 6, people)
    tenure_days = rng.integers(100, 8000, people)
    base = np.round(np.exp(10.6 + 0.2 * level + 0.02 * location - 0.05 * female + rng.normal(0, 0.1, people)), 2)
    return {
        "female": female,
        "level": level,
        "location": location,
        "tenure_days": tenure_days,
        "base": base,
        "unit": rng.integers(0, units, people),
        "rating": rng.integers(1, 6, people).astype(np.float64),
    }


def bare(data: dict[str, np.ndarray], midpoint: float, reference: date) -> tuple[float, float]:
    base, rating = data["base"], data["rating"]
    ratio = np.floor(base / midpoint * 10000 + 0.5) / 10000
    bucket = np.searchsorted(BUCKETS, ratio, side="right") - 1
    row = np.clip(np.searchsorted(ROWS, rating, side="right") - 1, 0, 3)
    pct = TARGETS[row, bucket]
    increase = np.floor(base * (1 + pct / 100) * 100 + 0.5) / 100 - base
    multiplier = MULTIPLIERS[np.clip(np.searchsorted(np.array([1.0, 3.0, 4.0]), rating, side="right") - 1, 0, 2)]
    bonus = np.floor(base * 0.1 * multiplier * 100 + 0.5) / 100
    units = int(data["unit"].max()) + 1
    np.bincount(data["unit"], weights=base, minlength=units)
    np.bincount(data["unit"], weights=increase, minlength=units)
    np.bincount(data["unit"], weights=bonus, minlength=units)
    tenure = data["tenure_days"] / 365.25
    gaps = []
    for pay in (base, base + increase):
        columns = [np.ones(len(base)), data["female"].astype(np.float64)]
        for codes in (data["level"], data["location"]):
            columns += [(codes == level).astype(np.float64) for level in np.unique(codes)[1:]]
        columns.append(tenure)
        x = np.column_stack(columns)
        y = np.log(pay)
        xtx = x.T @ x
        inverse = np.linalg.inv(xtx)
        beta = inverse @ (x.T @ y)
        residuals = y - x @ beta
        sigma2 = residuals @ residuals / (len(y) - x.shape[1])
        math.sqrt(sigma2 * inverse[1, 1])
        gaps.append((1 - math.exp(beta[1])) * 100)
    return float(increase.sum()), gaps[1]


async def run(args: argparse.Namespace) -> None:
    data = org(args.people, args.units, args.seed)
    midpoint = 60000.0
    reference = utcnow().date()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'rewards.db'}"
        await upgrade_async("rewards", url)
        engine = create_engine(url)
        try:
            sessionmaker = create_sessionmaker(engine)
            cycle_id = uuid.uuid4()
            ids = [uuid.uuid4() for _ in range(args.people)]
            records = [
                {
                    "base_salary": Decimal(str(data["base"][i])),
                    "effective_date": reference - timedelta(days=30),
                    "fte": Decimal(1),
                    "variable_pay": Decimal(0),
                    "gender": "female" if data["female"][i] else "male",
                    "job_level": f"L{data['level'][i]}",
                    "location": f"city{data['location'][i]}",
                    "hire_date": reference - timedelta(days=int(data["tenure_days"][i])),
                }
                for i in range(args.people)
            ]
            departments = [f"unit{unit}" for unit in data["unit"]]
            started = time.perf_counter()
            async with sessionmaker() as session, session.begin():
                by = await store_population(session, ids, records, departments=departments, midpoint=midpoint)
                # A period that began long before anyone was hired: proration 1 for everyone.
                period = (reference - timedelta(days=9000), reference)
                await store_pay_cycle(
                    session, cycle_id, by, MATRIX, merit_pct=Decimal(3), bonus_pct=Decimal(10), period=period
                )
            print(f"stored {args.people:,} people in {time.perf_counter() - started:.1f} s (not timed)")
            body = {
                "scale_min": 1,
                "scale_max": 5,
                "ratings": [
                    {"person_id": str(pid), "rating": int(data["rating"][i]), "org_unit": f"unit{data['unit'][i]}"}
                    | ({"previous_rating": 3} if i < 10 else {})
                    for i, pid in enumerate(ids)
                ],
            }

            async def ours() -> dict[str, Any]:
                async with sessionmaker() as session:
                    answer = await ImpactService(session).impact(cycle_id, ImpactRequest.model_validate(body))
                    answer.model_dump_json()
                    return answer.model_dump()

            answer = await ours()
            spend, gap = bare(data, midpoint, reference)
            ours_spend = sum(float(unit["merit_spend"]) for unit in answer["units"])
            assert math.isclose(ours_spend, spend, abs_tol=0.01 * args.people), (ours_spend, spend)
            projected = float(answer["pay_gap"]["after"]["adjusted_gap_pct"])
            assert abs(projected - gap) < 0.006, (projected, gap)
            before = answer["pay_gap"]["before"]["adjusted_gap_pct"]
            over = sum(bool(unit["over_budget"]) for unit in answer["units"])
            print(
                f"merit spend {ours_spend:,.2f}, adjusted gap {before} % -> {projected:.2f} %, {over} units over budget"
            )
            ours_seconds, bare_seconds = [], []
            for _ in range(args.runs):
                start = time.perf_counter()
                await ours()
                ours_seconds.append(time.perf_counter() - start)
                start = time.perf_counter()
                bare(data, midpoint, reference)
                bare_seconds.append(time.perf_counter() - start)
        finally:
            await engine.dispose()
    ours_median, bare_median = statistics.median(ours_seconds), statistics.median(bare_seconds)
    print(
        f"ours (validate, read SQLite, price, pools, two regressions, JSON): {ours_median:.3f} s median "
        f"({', '.join(f'{s:.3f}' for s in ours_seconds)})"
    )
    runs = ", ".join(f"{s:.4f}" for s in bare_seconds)
    print(f"bare numpy, the same arithmetic in memory: {bare_median:.4f} s ({runs})")
    verdict = "met" if ours_median <= 2 else "MISSED"
    print(f"ratio ours / bare: {ours_median / bare_median:.1f}x; goal <= 2 s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
