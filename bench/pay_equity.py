"""Pay-equity benchmark: the EU Art. 9 report plus the adjusted gender pay gap for 100,000 people.

    python -m bench.pay_equity [--people 100000] [--categories 20] [--runs 5] [--seed 11]

Generates a population in memory (numpy columns, as ``services.rewards.equity.service`` builds
them from the records): 8 job levels, 10 locations, ``--categories`` worker categories, tenure
0-30 years, 15 % part-time, 48 % women, 48 % men, 4 % another value or undisclosed; log pay
from level, location and tenure, 4 % less for women, noise; 60 % receive variable pay.

Then, median of ``--runs`` (wall seconds):

* ours: ``stats.art9_report`` (a)-(g) with suppression, and ``stats.pay_equity`` with the
  default controls (job level, location, tenure): the adjusted gap with its interval for the
  whole population and for each category, flags;
* bare numpy in the same run: the same arithmetic written straight: masked means and medians,
  shares, an argsort cut into quarters, per-category gaps, and least squares of the
  same design for the population and each category by the normal equations (coefficient and
  standard error; ``numpy.linalg.lstsq``, an SVD, is slower than both).

It checks that both give the same adjusted gap and the same (a) mean gap before timing.

With ``--database`` it also stores the population as compensation records (people
projection, one pay band, records with every attribute) in a migrated SQLite database in a
temporary folder (not timed) and times the service as a request runs it:
``EquityService.art9`` plus ``EquityService.pay_equity``, each reading the records in force on
the reference date and building the population from the rows.
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
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

# One BLAS thread unless told otherwise: on two shared cores, BLAS threads fighting the other
# jobs made both sides 5-10x slower and noisy (see bench/README.md). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench.rewards_seed import store_population
from services.rewards.equity import stats
from services.rewards.equity.service import EquityService
from shared.database import create_engine, create_sessionmaker
from shared.migrations import upgrade_async

CONTROLS = ("job_level", "location", "tenure")


def population(people: int, categories: int, seed: int) -> stats.Population:
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 8, people)
    location = rng.integers(0, 10, people)
    category = rng.integers(0, categories, people)
    tenure = rng.uniform(0, 30, people)
    gender = rng.choice([stats.FEMALE, stats.MALE, stats.OTHER, stats.UNDISCLOSED], people, p=[0.48, 0.48, 0.02, 0.02])
    fte = np.where(rng.random(people) < 0.15, rng.choice([0.5, 0.6, 0.8, 0.9], people), 1.0)
    log_pay = 10.5 + 0.15 * level + 0.03 * location + 0.01 * tenure - 0.04 * (gender == stats.FEMALE)
    base = np.round(np.exp(log_pay + rng.normal(0, 0.1, people)) * fte, 2)
    variable = np.where(rng.random(people) < 0.6, np.round(base * rng.uniform(0.05, 0.15, people), 2), 0.0)
    none = np.full(people, -1, dtype=np.int64)
    return stats.Population(
        person_ids=[f"p{i}" for i in range(people)],
        gender=gender.astype(np.int64),
        base=base,
        variable=variable,
        fte=fte,
        tenure=tenure,
        codes={
            "job_level": level.astype(np.int64),
            "location": location.astype(np.int64),
            "worker_category": category.astype(np.int64),
            "job_family": none,
            "employment_type": none,
        },
        labels={
            "job_level": [f"L{i}" for i in range(8)],
            "location": [f"city{i}" for i in range(10)],
            "worker_category": [f"C{i:02d}" for i in range(categories)],
            "job_family": [],
            "employment_type": [],
        },
    )


def ours(people: stats.Population) -> tuple[stats.Art9Report, stats.Equity]:
    report = stats.art9_report(people, 5)
    equity, _fits = stats.pay_equity(people, CONTROLS, 5, 5.0)
    return report, equity


def bare(people: stats.Population) -> tuple[float, float]:
    """The same arithmetic in plain numpy, no suppression or result objects."""
    g = people.gender
    w, m = g == stats.FEMALE, g == stats.MALE
    binary = w | m
    base = people.base / people.fte
    variable = people.variable / people.fte
    total = base + variable
    receives = people.variable > 0

    def gaps(women: np.ndarray, men: np.ndarray) -> tuple[float, float]:
        return (
            (men.mean() - women.mean()) / men.mean() * 100,
            (np.median(men) - np.median(women)) / np.median(men) * 100,
        )

    mean_gap, _median_gap = gaps(total[w], total[m])
    gaps(variable[w & receives], variable[m & receives])
    _shares = receives[w].mean() * 100, receives[m].mean() * 100
    order = np.argsort(total[binary], kind="stable")
    _bands = [chunk.mean() * 100 for chunk in np.array_split(w[binary][order], 4)]
    codes = people.codes["worker_category"]
    for code in range(len(people.labels["worker_category"])):
        member = codes == code
        gaps(base[member & w], base[member & m])
        gaps(variable[member & w & receives], variable[member & m & receives])

    def ols(rows: np.ndarray) -> tuple[float, float]:
        female = (g[rows] == stats.FEMALE).astype(np.float64)
        columns = [np.ones(len(rows)), female]
        for name in ("job_level", "location"):
            values = people.codes[name][rows]
            columns += [(values == level).astype(np.float64) for level in np.unique(values)[1:]]
        columns.append(people.tenure[rows])
        x = np.column_stack(columns)
        y = np.log(base[rows])
        xtx = x.T @ x
        inverse = np.linalg.inv(xtx)
        beta = inverse @ (x.T @ y)
        residuals = y - x @ beta
        sigma2 = residuals @ residuals / (len(rows) - x.shape[1])
        se = math.sqrt(sigma2 * inverse[1, 1])
        return float(beta[1]), se

    everyone = np.flatnonzero(binary)
    coefficient, _se = ols(everyone)
    for code in range(len(people.labels["worker_category"])):
        ols(np.flatnonzero(binary & (codes == code)))
    return float(mean_gap), (1 - math.exp(coefficient)) * 100


def timed(function: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


REFERENCE = date(2026, 12, 31)


async def through_the_service(people: stats.Population, runs: int) -> list[float]:
    """Store the population as records (not timed), then time the two reports as the API runs them."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'rewards.db'}"
        await upgrade_async("rewards", url)
        engine = create_engine(url)
        try:
            sessionmaker = create_sessionmaker(engine)
            ids = [uuid.uuid4() for _ in range(len(people))]
            gender_names = {code: name for name, code in stats.GENDER_CODES.items()}

            def label(name: str, index: int) -> str | None:
                code = int(people.codes[name][index])
                return None if code < 0 else people.labels[name][code]

            records = [
                {
                    "base_salary": Decimal(str(people.base[i])),
                    "effective_date": date(2026, 1, 1),
                    "fte": Decimal(str(people.fte[i])),
                    "variable_pay": Decimal(str(people.variable[i])),
                    "gender": gender_names[int(people.gender[i])],
                    "job_level": label("job_level", i),
                    "location": label("location", i),
                    "worker_category": label("worker_category", i),
                    "hire_date": REFERENCE - timedelta(days=int(people.tenure[i] * 365.25)),
                }
                for i in range(len(ids))
            ]
            started = time.perf_counter()
            async with sessionmaker() as session, session.begin():
                await store_population(session, ids, records)
            print(f"stored {len(people):,} records in {time.perf_counter() - started:.1f} s (not timed)")
            seconds, cpu = [], []
            for _ in range(runs):
                start, start_cpu = time.perf_counter(), time.process_time()
                async with sessionmaker() as session:
                    service = EquityService(session)
                    await service.art9(REFERENCE, "EUR")
                    await service.pay_equity(REFERENCE, "EUR", None)
                seconds.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            print(f"  CPU seconds of the process (all threads): {', '.join(f'{s:.3f}' for s in cpu)}")
            return seconds
        finally:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database", action="store_true", help="also time the service reading SQLite")
    args = parser.parse_args()

    started = time.perf_counter()
    people = population(args.people, args.categories, args.seed)
    print(f"generated {len(people):,} people in {time.perf_counter() - started:.2f} s")

    report, equity = ours(people)
    bare_mean_gap, bare_adjusted = bare(people)
    assert report.pay_gap.mean_pct is not None
    assert equity.overall.gap_pct is not None
    assert math.isclose(report.pay_gap.mean_pct, bare_mean_gap, rel_tol=1e-9), (report.pay_gap, bare_mean_gap)
    assert math.isclose(equity.overall.gap_pct, bare_adjusted, rel_tol=1e-6), (equity.overall, bare_adjusted)
    flagged = sum(item.flagged for item in equity.categories)
    print(
        f"(a) mean gap {report.pay_gap.mean_pct:.2f} %, adjusted gap {equity.overall.gap_pct:.2f} % "
        f"[{equity.overall.ci_low_pct:.2f}, {equity.overall.ci_high_pct:.2f}], {flagged} of "
        f"{len(equity.categories)} categories flagged"
    )

    # Alternate ours and bare run by run, so a busy neighbour weighs on both alike.
    ours_seconds: list[float] = []
    bare_seconds: list[float] = []
    for _ in range(args.runs):
        ours_seconds += timed(lambda: ours(people), 1)
        bare_seconds += timed(lambda: bare(people), 1)
    ours_median, bare_median = statistics.median(ours_seconds), statistics.median(bare_seconds)
    print(f"ours (Art. 9 report + adjusted gap, population and {len(equity.categories)} categories):")
    print(f"  {ours_median:.3f} s median of {args.runs} ({', '.join(f'{s:.3f}' for s in ours_seconds)})")
    print(f"bare numpy, the same arithmetic: {bare_median:.3f} s ({', '.join(f'{s:.3f}' for s in bare_seconds)})")
    print(f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    if args.database:
        service_seconds = asyncio.run(through_the_service(people, args.runs))
        service_median = statistics.median(service_seconds)
        print(
            f"through the service (SQLite read + rows -> columns + both reports): {service_median:.3f} s median "
            f"({', '.join(f'{s:.3f}' for s in service_seconds)}); ratio to bare: {service_median / bare_median:.1f}x"
        )
    print(
        f"ratio ours / bare: {ours_median / bare_median:.2f}x; goal <= 2 s: {'met' if ours_median <= 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
