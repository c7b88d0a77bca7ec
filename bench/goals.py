"""Goals benchmark: a company goal's full alignment tree with roll-up, and scoring a review cycle.

    python -m bench.goals [--people 100000] [--goals-per-person 5] [--participants 10000]
                          [--database-url URL] [--runs 5]

It generates an organisation in the goals service's people projection (a CEO, a fan-out of
4-12 reports per manager, a department per VP subtree) and its goals, bulk-inserted through
SQLAlchemy Core into a migrated database (SQLite in WAL mode in a temporary folder unless
``--database-url`` names another):

* 5 company goals; 2 department goals per department (the first aligned to the first company
  goal); a team goal per manager aligned to their department's first goal;
* ``--goals-per-person`` individual goals per person for 2026-Q2, weight 100/n each, one key
  result each; the first aligned to the manager's team goal; 5 % private.

Then, median of ``--runs``:

* tree: ``GoalService.tree`` of the first company goal as HR (one recursive CTE, the roll-up
  in memory, the response model built), and its JSON serialisation;
* score: ``CycleScoring.compute`` for ``--participants`` people, committed (scores and one
  outbox event per participant);

and in the same run the bare platform: the same recursive CTE as plain SQL through the raw
driver (sqlite3 or asyncpg) fetching the same columns, and, for scoring, the scoring's
database work through the raw driver, committed: the same SELECT of the goal rows, the
revisions, the DELETE of earlier scores, and an ``executemany`` each of the score and outbox
rows our first run stored (run by run alternating with ours; wall and CPU seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.goals.models import Goal, KeyResult, Person
from services.goals.scoring import CycleScoring
from services.goals.service import GoalService
from shared.auth import Principal, Role
from shared.cycles import CYCLE_SCORE_COMPUTED
from shared.database import create_engine, create_sessionmaker
from shared.migrations import upgrade

PERIOD_START, PERIOD_END = date(2026, 4, 1), date(2026, 6, 30)
TODAY = date(2026, 5, 16)
BATCH = 5000
VERBS = ["Ship", "Cut", "Grow", "Launch", "Reduce", "Raise", "Automate", "Hire", "Migrate", "Document"]
THINGS = ["billing", "onboarding", "churn", "latency", "cloud spend", "NPS", "test coverage", "pipeline", "docs"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Org:
    people: list[uuid.UUID] = field(default_factory=list)
    manager: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    department: dict[uuid.UUID, str] = field(default_factory=dict)
    reports: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)


def generate_org(count: int, rng: random.Random) -> Org:
    org = Org()
    ceo = uuid.UUID(int=rng.getrandbits(128), version=4)
    org.people.append(ceo)
    org.manager[ceo] = None
    org.department[ceo] = "Executive"
    queue = [ceo]
    head = 0
    while len(org.people) < count:
        boss = queue[head]
        head += 1
        fan_out = 8 if boss == ceo else rng.randint(4, 12)
        for _ in range(fan_out):
            if len(org.people) >= count:
                break
            person = uuid.UUID(int=rng.getrandbits(128), version=4)
            org.people.append(person)
            org.manager[person] = boss
            org.reports.setdefault(boss, []).append(person)
            org.department[person] = f"Dept {len(org.reports[boss])}" if boss == ceo else org.department[boss]
            queue.append(person)
    return org


def title(rng: random.Random) -> str:
    return f"{rng.choice(VERBS)} {rng.choice(THINGS)} by {rng.randint(5, 40)}% this quarter"


def goal_row(
    goal_id: uuid.UUID,
    owner: uuid.UUID,
    level: str,
    text: str,
    *,
    now: datetime,
    aligned_to: uuid.UUID | None = None,
    department: str | None = None,
    weight: float | None = None,
    progress: float = 0.0,
    source: str = "manual",
    visibility: str = "public",
) -> dict[str, Any]:
    return {
        "id": goal_id,
        "owner_id": owner,
        "level": level,
        "department": department,
        "title": text,
        "description": None,
        "visibility": visibility,
        "period_kind": "quarter",
        "period_start": PERIOD_START,
        "period_end": PERIOD_END,
        "due_date": None,
        "aligned_to_id": aligned_to,
        "assigned_from_id": None,
        "weight": weight,
        "progress": progress,
        "progress_source": source,
        "manual_progress": 0.0,
        "status_override": None,
        "status_reason": None,
        "completed_at": None,
        "version": 1,
        "created_at": now,
        "modified_at": None,
    }


async def insert_rows(engine: AsyncEngine, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with engine.begin() as connection:
            await connection.execute(insert(table), list(rows[start : start + BATCH]))


async def populate(engine: AsyncEngine, people: int, per_person: int, rng: random.Random) -> tuple[uuid.UUID, Org]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    org = generate_org(people, rng)
    person_rows = [
        {
            "id": person,
            "version": 1,
            "display_name": f"Person {index}",
            "email": f"p{index}@example.com",
            "manager_id": org.manager[person],
            "department": org.department[person],
            "active": True,
            "synced_at": now,
        }
        for index, person in enumerate(org.people)
    ]
    await insert_rows(engine, Person.__table__, person_rows)
    log(f"people projection: {len(person_rows):,} rows ({time.perf_counter() - started:.1f}s)")

    ceo = org.people[0]
    company = [uuid.uuid4() for _ in range(5)]
    rows = [goal_row(goal_id, ceo, "company", f"Company objective {n}", now=now) for n, goal_id in enumerate(company)]
    department_goal: dict[str, uuid.UUID] = {}
    for department in sorted(set(org.department.values())):
        first, second = uuid.uuid4(), uuid.uuid4()
        department_goal[department] = first
        for goal_id, parent in ((first, company[0]), (second, company[1 + len(department_goal) % 4])):
            rows.append(
                goal_row(goal_id, ceo, "department", title(rng), now=now, aligned_to=parent, department=department)
            )
    team_goal: dict[uuid.UUID, uuid.UUID] = {}
    for manager in org.reports:
        team_goal[manager] = uuid.uuid4()
        rows.append(
            goal_row(
                team_goal[manager],
                manager,
                "team",
                title(rng),
                now=now,
                aligned_to=department_goal[org.department[manager]],
            )
        )
    key_results: list[dict[str, Any]] = []
    weight = round(100 / per_person, 4)
    for person in org.people:
        boss = org.manager[person]
        for number in range(per_person):
            goal_id = uuid.uuid4()
            current = float(rng.randint(0, 100))
            aligned = team_goal[boss] if number == 0 and boss is not None else None
            private = rng.random() < 0.05
            rows.append(
                goal_row(
                    goal_id,
                    person,
                    "individual",
                    title(rng),
                    now=now,
                    aligned_to=aligned,
                    weight=weight,
                    progress=current,
                    source="key_results",
                    visibility="private" if private else "public",
                )
            )
            key_results.append(
                {
                    "id": uuid.uuid4(),
                    "goal_id": goal_id,
                    "position": 0,
                    "title": "Key result",
                    "unit": "number",
                    "currency": None,
                    "direction": "increase",
                    "start_value": 0.0,
                    "target_value": 100.0,
                    "current_value": current,
                    "weight": 1.0,
                    "created_at": now,
                    "modified_at": None,
                }
            )
    # Parents before children: the aligned_to_id foreign key is checked row by row.
    await insert_rows(engine, Goal.__table__, rows)
    log(f"goals: {len(rows):,} rows ({time.perf_counter() - started:.1f}s)")
    await insert_rows(engine, KeyResult.__table__, key_results)
    log(f"key results: {len(key_results):,} rows ({time.perf_counter() - started:.1f}s)")
    return company[0], org


async def timed(runs: int, action: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    durations = []
    result: Any = None
    for _ in range(runs):
        started = time.perf_counter()
        result = await action()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), result


RAW_TREE = """
WITH RECURSIVE tree(id, depth) AS (
    SELECT id, 0 FROM goals WHERE id = {p1}
    UNION ALL
    SELECT goals.id, tree.depth + 1 FROM goals JOIN tree ON goals.aligned_to_id = tree.id WHERE tree.depth < 64
)
SELECT goals.id, goals.aligned_to_id, goals.owner_id, goals.level, goals.visibility, goals.title, goals.progress,
       goals.progress_source, goals.status_override, goals.period_start, goals.period_end, goals.due_date
FROM goals JOIN tree ON goals.id = tree.id
"""
RAW_SCORED = (
    "SELECT owner_id, id, weight, progress FROM goals WHERE owner_id IN ({ids}) AND level = 'individual' "
    "AND coalesce(due_date, period_end) >= {start} AND coalesce(due_date, period_end) <= {end} "
    "AND (status_override IS NULL OR status_override <> 'cancelled') ORDER BY owner_id, id"
)


RAW_REVISIONS = "SELECT person_id, revision FROM cycle_scores WHERE cycle_id = {cycle} AND person_id IN ({ids})"
RAW_DELETE = "DELETE FROM cycle_scores WHERE cycle_id = {cycle} AND person_id IN ({ids})"
SCORE_COLUMNS = [
    "cycle_id",
    "person_id",
    "period_start",
    "period_end",
    "score",
    "goal_count",
    "weights_ok",
    "weight_total",
    "error",
    "formula_version",
    "inputs",
    "revision",
    "computed_at",
]
RAW_STORED_SCORES = (
    "SELECT person_id, period_start, period_end, score, goal_count, weights_ok, weight_total, error, "
    "formula_version, inputs, revision, computed_at FROM cycle_scores WHERE cycle_id = {p}"
)
RAW_STORED_EVENTS = (
    "SELECT payload, headers, created_at FROM event_outbox WHERE subject = {p1} ORDER BY created_at DESC LIMIT {p2}"
)
RAW_INSERT_SCORES = (
    "INSERT INTO cycle_scores (cycle_id, person_id, period_start, period_end, score, goal_count, weights_ok, "
    "weight_total, error, formula_version, inputs, revision, computed_at) VALUES ({values})"
)
RAW_INSERT_EVENTS = "INSERT INTO event_outbox (id, subject, payload, headers, created_at, attempts) VALUES ({values})"


@dataclass
class Written:
    """Rows as the product stored them: score rows without ``cycle_id``; (payload, headers, created_at) of events."""

    scores: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]


class RawPlatform:
    """The same statements through the bare driver (no ORM, no pydantic), for the ratio."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.sqlite = self.url.get_backend_name() == "sqlite"

    def _key(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value

    async def tree(self, root: uuid.UUID) -> int:
        if self.sqlite:
            with closing(sqlite3.connect(self.url.database or "")) as connection:
                return len(connection.execute(RAW_TREE.format(p1="?"), (self._key(root),)).fetchall())
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(self.url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            return len(await connection.fetch(RAW_TREE.format(p1="$1"), root))
        finally:
            await connection.close()

    async def written(self, cycle: uuid.UUID, count: int) -> Written:
        """What the product's last scoring of ``cycle`` stored (its score rows and ``count`` newest
        score events), read back before the bare side's clock starts so it writes the same values."""
        scores_query, events_query = RAW_STORED_SCORES, RAW_STORED_EVENTS
        if self.sqlite:
            with closing(sqlite3.connect(self.url.database or "")) as connection:
                scores = connection.execute(scores_query.format(p="?"), (cycle.hex,)).fetchall()
                events = connection.execute(
                    events_query.format(p1="?", p2="?"), (CYCLE_SCORE_COMPUTED, count)
                ).fetchall()
                return Written(scores, events)
        import asyncpg

        connection = await asyncpg.connect(self.url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            scores = [tuple(row) for row in await connection.fetch(scores_query.format(p="$1"), cycle)]
            events = [
                tuple(row)
                for row in await connection.fetch(events_query.format(p1="$1", p2="$2"), CYCLE_SCORE_COMPUTED, count)
            ]
            return Written(scores, events)
        finally:
            await connection.close()

    async def score(self, people: Sequence[uuid.UUID], cycle: uuid.UUID, written: Written) -> int:
        """What the scoring does to the database, through the bare driver, committed.

        Read the participants' goal rows and their scores' revisions, delete their earlier
        scores of ``cycle``, insert the score rows and one outbox row each (the values the
        product stored, prepared before the clock starts), commit.
        """
        fetched = 0
        insert_scores, insert_events = RAW_INSERT_SCORES, RAW_INSERT_EVENTS
        if self.sqlite:
            key = cycle.hex
            score_rows = [(key, *row) for row in written.scores]
            event_rows = [(uuid.uuid4().hex, CYCLE_SCORE_COMPUTED, *row, 0) for row in written.events]
            with closing(sqlite3.connect(self.url.database or "")) as connection:
                for start in range(0, len(people), 1000):
                    part = [self._key(p) for p in people[start : start + 1000]]
                    marks = ",".join("?" * len(part))
                    query = RAW_SCORED.format(ids=marks, start="?", end="?")
                    fetched += len(connection.execute(query, (*part, "2026-01-01", "2026-06-30")).fetchall())
                    connection.execute(RAW_REVISIONS.format(cycle="?", ids=marks), (key, *part)).fetchall()
                for start in range(0, len(people), 1000):
                    part = [self._key(p) for p in people[start : start + 1000]]
                    connection.execute(RAW_DELETE.format(cycle="?", ids=",".join("?" * len(part))), (key, *part))
                connection.executemany(insert_scores.format(values=",".join("?" * len(SCORE_COLUMNS))), score_rows)
                connection.executemany(insert_events.format(values=",".join("?" * 6)), event_rows)
                connection.commit()
            return fetched
        import asyncpg

        score_rows = [(cycle, *row) for row in written.scores]
        event_rows = [(uuid.uuid4(), CYCLE_SCORE_COMPUTED, *row, 0) for row in written.events]
        connection = await asyncpg.connect(self.url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            async with connection.transaction():
                for start in range(0, len(people), 1000):
                    part = list(people[start : start + 1000])
                    query = RAW_SCORED.format(ids="SELECT unnest($1::uuid[])", start="$2", end="$3")
                    fetched += len(await connection.fetch(query, part, date(2026, 1, 1), date(2026, 6, 30)))
                    await connection.fetch(
                        RAW_REVISIONS.format(cycle="$1", ids="SELECT unnest($2::uuid[])"), cycle, part
                    )
                for start in range(0, len(people), 1000):
                    part = list(people[start : start + 1000])
                    await connection.execute(
                        RAW_DELETE.format(cycle="$1", ids="SELECT unnest($2::uuid[])"), cycle, part
                    )
                marks = ", ".join(f"${n}" for n in range(1, len(SCORE_COLUMNS) + 1))
                await connection.executemany(insert_scores.format(values=marks), score_rows)
                marks = ", ".join(f"${n}" for n in range(1, 7))
                await connection.executemany(insert_events.format(values=marks), event_rows)
        finally:
            await connection.close()
        return fetched


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="meritloop-bench-goals-") as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'goals.db'}"
        log(f"database: {make_url(url).render_as_string(hide_password=True)}")
        await asyncio.to_thread(upgrade, "goals", url)
        engine = create_engine(url)
        sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        try:
            root, org = await populate(engine, args.people, args.goals_per_person, rng)
            hr = Principal(uuid.uuid4(), frozenset({Role.hr}))

            async def read_tree() -> Any:
                async with sessionmaker() as session:
                    return await GoalService(session, today=TODAY).tree(root, hr)

            tree_seconds, tree = await timed(args.runs, read_tree)
            json_runs = []
            for _ in range(args.runs):
                started = time.perf_counter()
                body = json.dumps(tree, separators=(",", ":"))
                json_runs.append(time.perf_counter() - started)
            json_seconds = statistics.median(json_runs)
            tree_size, body_size = tree["size"], len(body)
            log(f"tree: {tree_size:,} goals, roll-up {tree['root']['rollup_progress']:.2f}%")
            raw = RawPlatform(url)
            raw_tree_seconds, raw_rows = await timed(args.runs, lambda: raw.tree(root))
            assert raw_rows == tree_size, (raw_rows, tree_size)

            participants = rng.sample(org.people, min(args.participants, len(org.people)))
            # The tree (hundreds of thousands of objects) and the generated organisation are the
            # benchmark's, not the scoring's: a service's heap holds neither, so they are
            # dropped or frozen out of the collector's scans before scoring is timed.
            del tree, body
            gc.collect()
            gc.freeze()

            async def score() -> Any:
                async with sessionmaker() as session, session.begin():
                    return await CycleScoring(session).compute(cycle, date(2026, 1, 1), date(2026, 6, 30), participants)

            # Ours and the bare side alternate run by run, so both see the same neighbours on a
            # shared machine; the bare side writes what our first run stored.
            cycle, bare_cycle = uuid.uuid4(), uuid.uuid4()  # one cycle each: later runs replace scores
            # CPU seconds too (this process, the driver's thread included): on a shared machine
            # the wall clock of either side moves with the neighbours' load, CPU time less.
            score_runs: list[tuple[float, float]] = []
            raw_score_runs: list[tuple[float, float]] = []
            written: Written | None = None
            for _ in range(args.runs):
                started, cpu_started = time.perf_counter(), time.process_time()
                scores = await score()
                score_runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
                if written is None:
                    written = await raw.written(cycle, len(participants))
                    assert len(written.scores) == len(written.events) == len(participants)
                started, cpu_started = time.perf_counter(), time.process_time()
                raw_fetched = await raw.score(participants, bare_cycle, written)
                raw_score_runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
            score_seconds = statistics.median(wall for wall, _cpu in score_runs)
            raw_score_seconds = statistics.median(wall for wall, _cpu in raw_score_runs)
            score_cpu = statistics.median(cpu for _wall, cpu in score_runs)
            raw_score_cpu = statistics.median(cpu for _wall, cpu in raw_score_runs)
            scored = [s for s in scores if s.score is not None]
            log(f"scores: {len(scores):,} participants, {len(scored):,} with a score, revision {scores[0].revision}")
            log(
                "score runs (wall ms ours / bare, CPU ms ours / bare): "
                + ", ".join(
                    f"{a[0] * 1000:.0f} / {b[0] * 1000:.0f}, {a[1] * 1000:.0f} / {b[1] * 1000:.0f}"
                    for a, b in zip(score_runs, raw_score_runs, strict=True)
                )
            )
        finally:
            await engine.dispose()

    print()
    print(f"goals benchmark: {args.people:,} people x {args.goals_per_person} goals, median of {args.runs} runs")
    print(f"{'measure':<58}{'meritloop':>12}{'bare':>12}{'ratio':>8}")

    def line(name: str, ours: float, bare: float | None) -> None:
        ratio = f"{ours / bare:.2f}x" if bare else ""
        bare_text = f"{bare * 1000:.0f} ms" if bare is not None else ""
        print(f"{name:<58}{ours * 1000:>9.0f} ms{bare_text:>12}{ratio:>8}")

    line(f"alignment tree of a company goal ({tree_size:,} goals, roll-up)", tree_seconds, raw_tree_seconds)
    line(f"  + serialising that tree to JSON ({body_size / 1e6:.1f} MB)", json_seconds, None)
    line(
        f"score a cycle of {len(participants):,} participants ({raw_fetched:,} goals)", score_seconds, raw_score_seconds
    )
    line("  the same, CPU seconds (median)", score_cpu, raw_score_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--goals-per-person", type=int, default=5)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite (WAL) in a temporary folder")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
