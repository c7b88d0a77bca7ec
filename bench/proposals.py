"""Pay proposals with budgets for 100,000 people through the rewards service.

    python -m bench.proposals [--people 100000] [--units 20] [--single 5000] [--run 100] [--edits 100] [--seed 7]

Stores ``--people`` people (projection, one pay band, compensation records with job level and
hire date), the tests' merit matrix, a bonus plan and a pay cycle with merit and bonus budgets
in a migrated SQLite database in a temporary folder (not timed). Then, timed:

* create: the first ``--single`` people (default 5,000) through ``ProposalService.apply_rating``
  one at a time, as the consumer's single path calls it (compensation snapshot, compa-ratio,
  matrix cell, target %, bonus), ``--batch`` ratings per transaction; then the rest up to
  ``--rated`` (default all) through ``apply_ratings``, ``--run`` ratings per call and
  transaction, as the consumer hands it a fetched batch. People past ``--rated`` get their
  proposals untimed by the same rules in bulk (``bulk_proposals``);
* pools: ``ProposalService.pools`` of every unit over all ``--people`` proposals (payroll,
  merit and bonus pool and spend);
* edits: ``--edits`` manager-style edits by HR through ``ProposalService.edit`` (each checks
  the guideline, the bonus plan and the unit's pools, then answers the pools again);
* bare, in the same run: the same arithmetic in plain numpy on arrays in memory (compa-ratio,
  matrix and multiplier lookups, increases and bonuses rounded half up to the cent, sums per
  unit). No database, no ORM, no Decimal.

Both must agree on the total merit and bonus spend before the ratio is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from sqlalchemy import select

from bench.calibration_impact import BUCKETS, MATRIX, MULTIPLIERS, ROWS, TARGETS
from bench.rewards_seed import store_pay_cycle, store_population
from services.rewards import rules
from services.rewards.bonus.service import BonusService, apply_bonus
from services.rewards.matrix.service import MeritMatrixService
from services.rewards.models import CompensationRecord, PayBand, PayProposal
from services.rewards.proposals.schemas import ProposalUpdate
from services.rewards.proposals.service import ProposalService
from shared.auth import Principal, Role
from shared.calibration import ProposalStatus, RatingFinalized
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.migrations import upgrade_async

MIDPOINT = 60_000.0
MERIT_PCT, BONUS_PCT = Decimal(3), Decimal(10)


def org(people: int, units: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 5, people)
    return {
        "level": level,
        "base": np.round(np.exp(10.6 + 0.2 * level + rng.normal(0, 0.1, people)), 2),
        "unit": rng.integers(0, units, people),
        "rating": rng.integers(1, 6, people).astype(np.float64),
    }


def half_up_cents(values: np.ndarray) -> np.ndarray:
    return np.floor(values * 100 + 0.5) / 100


def bare(data: dict[str, np.ndarray]) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Amounts in integer cents, so half-up rounding is exact as with Decimal."""
    base, rating = data["base"], data["rating"]
    cents = np.rint(base * 100).astype(np.int64)
    ratio = np.floor(base / MIDPOINT * 10000 + 0.5) / 10000
    bucket = np.searchsorted(BUCKETS, ratio, side="right") - 1
    row = np.clip(np.searchsorted(ROWS, rating, side="right") - 1, 0, 3)
    tenths = np.rint(TARGETS[row, bucket] * 10).astype(np.int64)  # the % in tenths
    increase = (cents * (1000 + tenths) + 500) // 1000 - cents
    multiplier = MULTIPLIERS[np.clip(np.searchsorted(np.array([1.0, 3.0, 4.0]), rating, side="right") - 1, 0, 2)]
    bonus = (cents * np.rint(multiplier * 10).astype(np.int64) + 50) // 100  # 10 % x multiplier
    units = int(data["unit"].max()) + 1
    payroll = np.bincount(data["unit"], weights=cents, minlength=units).astype(np.int64)
    merit = np.bincount(data["unit"], weights=increase, minlength=units).astype(np.int64)
    bonuses = np.bincount(data["unit"], weights=bonus, minlength=units).astype(np.int64)
    remaining = ((payroll * int(MERIT_PCT) + 50) // 100 - merit) / 100
    bonus_remaining = ((payroll * int(BONUS_PCT) + 50) // 100 - bonuses) / 100
    return float(merit.sum()) / 100, float(bonuses.sum()) / 100, remaining, bonus_remaining


async def store(sessionmaker: Any, data: dict[str, np.ndarray], ids: list[uuid.UUID], cycle_id: uuid.UUID) -> None:
    reference = utcnow().date()
    records = [
        {
            "base_salary": Decimal(str(data["base"][i])),
            "effective_date": reference - timedelta(days=30),
            "fte": Decimal(1),
            "variable_pay": Decimal(0),
            "job_level": f"L{data['level'][i]}",
            "hire_date": date(2000, 1, 1),
        }
        for i in range(len(ids))
    ]
    departments = [f"unit{unit}" for unit in data["unit"]]
    async with sessionmaker() as session, session.begin():
        by = await store_population(session, ids, records, departments=departments, midpoint=MIDPOINT)
        # Everyone hired before the period: proration 1.
        period = (reference - timedelta(days=365), reference)
        await store_pay_cycle(session, cycle_id, by, MATRIX, merit_pct=MERIT_PCT, bonus_pct=BONUS_PCT, period=period)


async def bulk_proposals(
    sessionmaker: Any, cycle_id: uuid.UUID, payloads: list[dict[str, Any]], salaries: np.ndarray
) -> None:
    """What ``apply_rating`` stores, for many people at once: the same rules (compa-ratio,
    matrix cell, ``_propose``, ``apply_bonus``) without its per-person reads."""
    if not payloads:
        return
    async with sessionmaker() as session, session.begin():
        found = await MeritMatrixService(session).for_cycle(cycle_id)
        plan = await BonusService(session).plan(cycle_id)
        band = (await session.scalars(select(PayBand))).one()
        records = {r.person_id: r for r in await session.scalars(select(CompensationRecord))}
        assert found is not None
        stored, definition = found
        batch: list[PayProposal] = []
        for payload, salary in zip(payloads, salaries, strict=True):
            rating = RatingFinalized.model_validate(payload)
            record = records[rating.person_id]
            assert record.base_salary == Decimal(str(salary))
            ratio = rules.compa_ratio(record.base_salary, band.midpoint)
            assert ratio is not None
            cell = rules.lookup(definition, rating.rating, ratio)
            assert cell is not None
            proposal = PayProposal(
                id=uuid.uuid4(),
                cycle_id=cycle_id,
                person_id=rating.person_id,
                org_unit=rating.org_unit,
                status=ProposalStatus.draft.value,
                rating=rating.rating,
                scale_min=rating.scale_min,
                scale_max=rating.scale_max,
                rating_version=rating.version,
                rating_finalized_at=rating.finalized_at,
                job_level=record.job_level,
                fte=record.fte,
                compensation_record_id=record.id,
                currency=record.currency,
                current_salary=record.base_salary,
                grade=band.grade,
                band_minimum=band.minimum,
                band_midpoint=band.midpoint,
                band_maximum=band.maximum,
                compa_ratio=ratio,
                matrix_id=stored.id,
                matrix_revision=stored.revision,
                matrix_row=cell.row,
                matrix_bucket=cell.bucket,
                guideline_min_pct=cell.guideline.min,
                guideline_target_pct=cell.guideline.target,
                guideline_max_pct=cell.guideline.max,
            )
            ProposalService._propose(proposal, cell.guideline.target)
            apply_bonus(proposal, plan, record.hire_date)
            batch.append(proposal)
        session.add_all(batch)
        await session.flush()


async def run(args: argparse.Namespace) -> None:
    data = org(args.people, args.units, args.seed)
    units = [f"unit{u}" for u in range(int(data["unit"].max()) + 1)]
    hr = Principal(person_id=uuid.uuid4(), roles=frozenset({Role.hr}))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'rewards.db'}"
        await upgrade_async("rewards", url)
        engine = create_engine(url)
        try:
            sessionmaker = create_sessionmaker(engine)
            cycle_id = uuid.uuid4()
            ids = [uuid.uuid4() for _ in range(args.people)]
            started = time.perf_counter()
            await store(sessionmaker, data, ids, cycle_id)
            print(f"stored {args.people:,} people in {time.perf_counter() - started:.1f} s (not timed)")
            finalized_at = utcnow()
            payloads = [
                RatingFinalized(
                    cycle_id=cycle_id,
                    person_id=pid,
                    rating=Decimal(int(data["rating"][i])),
                    scale_min=Decimal(1),
                    scale_max=Decimal(5),
                    rating_label=None,
                    org_unit=units[data["unit"][i]],
                    manager_id=None,
                    finalized_at=finalized_at,
                    version=1,
                ).model_dump(mode="json")
                for i, pid in enumerate(ids)
            ]

            rated = min(args.rated, args.people)
            single = min(args.single, rated)
            start = time.perf_counter()
            for first in range(0, single, args.batch):
                async with sessionmaker() as session, session.begin():
                    service = ProposalService(session)
                    for payload in payloads[first : min(first + args.batch, single)]:
                        await service.apply_rating(payload)
            single_seconds = time.perf_counter() - start
            start = time.perf_counter()
            for first in range(single, rated, args.run):
                async with sessionmaker() as session, session.begin():
                    await ProposalService(session).apply_ratings(payloads[first : min(first + args.run, rated)])
                done = min(first + args.run, rated) - single
                if done % 10_000 < args.run:
                    elapsed = time.perf_counter() - start
                    print(f"  {done:,} of {rated - single:,} in runs of {args.run}: {elapsed:.1f} s", flush=True)
            create_seconds = time.perf_counter() - start
            started = time.perf_counter()
            await bulk_proposals(sessionmaker, cycle_id, payloads[rated:], data["base"][rated:])
            if rated < args.people:
                print(
                    f"stored the other {args.people - rated:,} proposals by the same rules in bulk in "
                    f"{time.perf_counter() - started:.1f} s (not timed)"
                )

            start = time.perf_counter()
            merit_spend = bonus_spend = Decimal(0)
            ours_remaining: dict[str, tuple[Decimal, Decimal]] = {}
            async with sessionmaker() as session:
                service = ProposalService(session)
                cycle = await service.cycles.get_or_create(cycle_id)
                for unit in units:
                    pools = await service.pools(cycle, org_unit=unit)
                    merit, bonus = pools.merit["EUR"], pools.bonus["EUR"]
                    merit_spend += merit.proposed
                    bonus_spend += bonus.proposed
                    assert merit.remaining is not None
                    assert bonus.remaining is not None
                    ours_remaining[unit] = (merit.remaining, bonus.remaining)
            pools_seconds = time.perf_counter() - start

            bare_seconds = []
            for _ in range(5):
                start = time.perf_counter()
                bare_merit, bare_bonus, remaining, bonus_remaining = bare(data)
                bare_seconds.append(time.perf_counter() - start)
            assert abs(float(merit_spend) - bare_merit) < 0.01, (merit_spend, bare_merit)
            assert abs(float(bonus_spend) - bare_bonus) < 0.01, (bonus_spend, bare_bonus)
            for index, unit in enumerate(units):
                assert abs(float(ours_remaining[unit][0]) - remaining[index]) < 0.01, unit
                assert abs(float(ours_remaining[unit][1]) - bonus_remaining[index]) < 0.01, unit

            async with sessionmaker() as session:
                rows = await session.execute(
                    select(PayProposal.id, PayProposal.proposed_pct)
                    .where(PayProposal.cycle_id == cycle_id, PayProposal.proposed_pct > 0)
                    .limit(args.edits)
                )
                to_edit = list(rows.all())
            start = time.perf_counter()
            for proposal_id, pct in to_edit:
                async with sessionmaker() as session, session.begin():
                    lowered = ProposalUpdate(proposed_pct=pct - Decimal("0.5"), justification="bench")
                    await ProposalService(session).edit(proposal_id, lowered, hr)
            edit_seconds = (time.perf_counter() - start) / max(1, len(to_edit))
        finally:
            await engine.dispose()

    bare_best = min(bare_seconds)
    per_single = single_seconds / max(1, single)
    per_proposal = create_seconds / max(1, rated - single)
    bare_per_person = bare_best / args.people
    print(f"merit spend {merit_spend:,.2f}, bonus spend {bonus_spend:,.2f} over {len(units)} units (ours = bare)")
    print(
        f"create {single:,} proposals through apply_rating, one at a time ({args.batch:,} per transaction): "
        f"{single_seconds:.1f} s, {per_single * 1000:.2f} ms each"
    )
    print(
        f"create {rated - single:,} proposals through apply_ratings, {args.run} per call and transaction (the "
        f"consumer's batch): {create_seconds:.1f} s, {per_proposal * 1000:.2f} ms each "
        f"({per_single / per_proposal:.1f}x faster); {args.people:,} would take {per_proposal * args.people:.0f} s"
    )
    print(f"pools of {len(units)} units over {args.people:,} proposals: {pools_seconds:.2f} s")
    print(
        f"one edit with its budget check (unit of ~{args.people / len(units):,.0f}): {edit_seconds * 1000:.0f} ms mean"
    )
    print(f"bare numpy, pricing and pools of {args.people:,} in memory: {bare_best:.4f} s (best of 5)")
    print(
        f"ratio per proposal created / bare: {per_proposal / bare_per_person:,.0f}x; "
        f"pools / bare: {pools_seconds / bare_best:,.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--rated", type=int, default=100_000, help="proposals created through the service")
    parser.add_argument("--single", type=int, default=5_000, help="of them through apply_rating, one at a time")
    parser.add_argument("--batch", type=int, default=2_000, help="apply_rating calls per transaction")
    parser.add_argument("--run", type=int, default=100, help="ratings per apply_ratings call (the consumer's batch)")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
