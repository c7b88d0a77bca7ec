"""People directory benchmark: import a generated organisation, then time the hierarchy queries.

    python -m bench.people [--people 100000] [--depth 8] [--database-url URL] [--runs 7]

It generates a realistic organisation (a CEO, VPs, directors, managers... about ``depth``
levels, fan-out varying around the mean, departments under each director), writes it as
the CSV an HRIS would export, imports it through the importer's service layer in-process
(one transaction, outbox events included), and measures in the same run the bare platform:
a raw ``executemany`` of the same rows (people, addresses, outbox) into SQLite with the same
pragmas. Then it times, median of ``--runs``: every report under the largest VP (all depths,
count + first page, and all ids), and the manager chain of the deepest person.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url

from services.reviews.directory.importer import import_people, parse_records
from services.reviews.directory.repository import PersonRepository
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.migrations import upgrade

FIRST = [
    "Ada",
    "Ben",
    "Chen",
    "Dara",
    "Elif",
    "Femi",
    "Goran",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Okafor",
    "Brandt",
    "Raman",
    "Schmidt",
    "Alvarez",
    "Chen",
    "Novak",
    "Lindqvist",
    "Weiss",
    "Mensah",
    "Patel",
    "Petrova",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Silva",
    "Dubois",
    "Rossi",
    "Jensen",
    "Nakamura",
]
TITLES = [
    "Chief Executive Officer",
    "Vice President",
    "Director",
    "Senior Manager",
    "Manager",
    "Team Lead",
    "Senior Specialist",
    "Specialist",
]
DIVISIONS = ["Engineering", "Sales", "Operations", "Finance", "People", "Marketing", "Support", "Legal", "Product"]
TIMEZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "Asia/Singapore", "America/Sao_Paulo"]


@dataclass
class Org:
    header: list[str]
    rows: list[list[str]]
    levels: list[list[int]]  # row indexes per level
    managers: list[int | None]


def generate(people: int, depth: int, seed: int = 7) -> Org:
    """``people`` people in ``depth`` levels; each level about ``b`` times the one above."""
    rng = random.Random(seed)
    low, high = 1.0, 50.0
    for _ in range(60):  # the growth factor b with sum(b**k, k < depth) == people
        mid = (low + high) / 2
        low, high = (mid, high) if sum(mid**k for k in range(depth)) < people else (low, mid)
    sizes = [max(1, round(low**k)) for k in range(depth)]
    sizes[-1] = max(1, people - sum(sizes[:-1]))
    header = [
        "employee_number",
        "email",
        "given_name",
        "family_name",
        "display_name",
        "title",
        "organization",
        "division",
        "department",
        "cost_center",
        "locale",
        "timezone",
        "manager_employee_number",
    ]
    rows: list[list[str]] = []
    levels: list[list[int]] = []
    managers: list[int | None] = []
    unit: list[tuple[str, str]] = []
    for level, size in enumerate(sizes):
        members: list[int] = []
        above = levels[-1] if levels else []
        for _ in range(size):
            index = len(rows)
            manager = rng.choice(above) if above else None
            given, family = rng.choice(FIRST), rng.choice(LAST)
            if level <= 1:
                division = DIVISIONS[len(members) % len(DIVISIONS)] if level == 1 else "Executive"
                department = division
            elif level == 2:
                division = unit[manager][0] if manager is not None else "Executive"
                department = f"{division} {len(members) + 1}"
            else:
                division, department = unit[manager] if manager is not None else ("Executive", "Executive")
            unit.append((division, department))
            number = f"E{index + 1:06d}"
            rows.append(
                [
                    number,
                    f"{given.lower()}.{family.lower()}.{index + 1}@example.com",
                    given,
                    family,
                    f"{given} {family}",
                    TITLES[min(level, len(TITLES) - 1)],
                    "Northwind",
                    division,
                    department,
                    f"CC-{abs(hash(department)) % 1000:03d}",
                    "en-US",
                    rng.choice(TIMEZONES),
                    rows[manager][0] if manager is not None else "",
                ]
            )
            managers.append(manager)
            members.append(index)
        levels.append(members)
    return Org(header, rows, levels, managers)


def to_csv(org: Org) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(org.header)
    writer.writerows(org.rows)
    return buffer.getvalue().encode()


async def timed(label: str, runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = await call()
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"  {label}: median {median * 1000:.1f} ms over {runs} runs (min {min(times) * 1000:.1f} ms)")
    return median, result


def stored_events(path: Path) -> list[tuple[str, str]]:
    """``(payload, headers)`` of the outbox rows the import wrote, for the bare side to write again."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("SELECT payload, headers FROM event_outbox ORDER BY rowid").fetchall()


def bare_sqlite(path: Path, org: Org, events_written: Sequence[tuple[str, str]]) -> tuple[float, float]:
    """The platform floor: the same rows written with sqlite3 executemany, same pragmas, one transaction.

    The outbox rows carry the payloads the import wrote (read back from its database before
    the clock starts): the same bytes, not a shorter stand-in.
    """
    connection = sqlite3.connect(path)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    ids = [uuid.uuid4().hex for _ in org.rows]
    now = utcnow().isoformat(" ")
    paths: list[str] = []
    for index in range(len(org.rows)):  # managers come before their reports in org.rows
        manager = org.managers[index]
        paths.append((paths[manager] if manager is not None else "") + ids[index])
    people, emails, events = [], [], []
    for index, row in enumerate(org.rows):
        manager = org.managers[index]
        people.append(
            (
                ids[index],
                row[1],
                row[1],
                row[4],
                row[2],
                row[3],
                row[5],
                row[10],
                row[11],
                row[0],
                row[9],
                row[6],
                row[7],
                row[8],
                ids[manager] if manager is not None else None,
                paths[index],
                1,
                1,
                now,
            )
        )
        emails.append((row[1].lower(), ids[index], row[1], "work", 1))
    assert len(events_written) == len(org.rows), (len(events_written), len(org.rows))
    for payload, headers in events_written:
        events.append((uuid.uuid4().hex, "meritloop.reviews.person.upserted", payload, headers, now, 0))
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection:
        connection.executemany(
            "INSERT INTO people (id, user_name, email, display_name, given_name, family_name, title, locale, "
            "timezone, employee_number, cost_center, organization, division, department, manager_id, path, active, "
            "version, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            people,
        )
        connection.executemany(
            'INSERT INTO person_emails (value_key, person_id, value, type, "primary") VALUES (?,?,?,?,?)', emails
        )
        connection.executemany(
            "INSERT INTO event_outbox (id, subject, payload, headers, created_at, attempts) VALUES (?,?,?,?,?,?)",
            events,
        )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    connection.close()
    return elapsed, cpu


# The search's predicate as plain SQL: the floor a name search stands on (display name or primary address).
BARE_COUNT = sql_text(
    "SELECT count(*) FROM people WHERE active = TRUE AND (lower(display_name) LIKE :p OR lower(email) LIKE :p)"
)
BARE_PAGE = sql_text(
    "SELECT * FROM people WHERE active = TRUE AND (lower(display_name) LIKE :p OR lower(email) LIKE :p) "
    "ORDER BY display_name, id LIMIT 50"
)


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="meritloop-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'reviews.db'}"
    print(f"generating an organisation of {args.people} people, {args.depth} levels ...")
    org = generate(args.people, args.depth)
    print("  level sizes:", [len(level) for level in org.levels])
    content = to_csv(org)
    print(f"  CSV: {len(content) / 1e6:.1f} MB")
    print(f"migrating {url} ...")
    await asyncio.to_thread(upgrade, "reviews", url)

    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    print("importing through the importer service layer (one transaction) ...")
    started, cpu_started = time.perf_counter(), time.process_time()
    records, columns = parse_records(content, "csv")
    parsed = time.perf_counter()
    async with sessionmaker() as session, session.begin():
        report = await import_people(session, records, columns)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if report.rejected or not report.applied:
        raise SystemExit(f"import refused: {report.summary}")
    rate = args.people / elapsed
    summary = {action.value: count for action, count in report.summary.items() if count}
    print(
        f"  import: {elapsed:.2f} s ({rate:,.0f} rows/s; parsing {parsed - started:.2f} s; CPU {cpu:.2f} s), {summary}"
    )

    bare: float | None = None
    if url.startswith("sqlite"):
        print("bare platform: sqlite3 executemany of the same rows into a fresh migrated database ...")
        bare_path = workdir / "bare.db"
        await asyncio.to_thread(upgrade, "reviews", f"sqlite+aiosqlite:///{bare_path}")
        bare, bare_cpu = bare_sqlite(bare_path, org, stored_events(Path(make_url(url).database or "")))
        print(f"  bare insert: {bare:.2f} s ({args.people / bare:,.0f} rows/s); import/bare = {elapsed / bare:.1f}x")
        # On a shared machine the wall clock of either side moves with the neighbours' load;
        # CPU seconds (this process, the driver's thread included) move less.
        print(f"  CPU: import {cpu:.2f} s, bare {bare_cpu:.2f} s; ratio {cpu / bare_cpu:.1f}x")

    async with sessionmaker() as session:
        repository = PersonRepository.from_session(session)
        by_number = dict(await _ids_by_number(session))
        vp_index = max(org.levels[1], key=lambda index: _subtree_size(org, index))
        vp = by_number[org.rows[vp_index][0]]
        leaf = by_number[org.rows[org.levels[-1][0]][0]]
        print(f"queries ({args.runs} runs each; VP with {_subtree_size(org, vp_index):,} people below):")

        async def reports_page() -> Any:
            return await repository.reports(vp, all_levels=True, limit=50, offset=0)

        async def all_report_ids() -> Any:
            return await repository.report_ids(vp)

        async def chain() -> Any:
            return await repository.manager_chain(leaf)

        _, (_page, total) = await timed(
            "reports under the VP, all depths (total + first page of 50)", args.runs, reports_page
        )
        _, everyone = await timed("reports under the VP, all depths (every id)", args.runs, all_report_ids)
        _, managers = await timed("manager chain of a person at the bottom", args.runs, chain)
        print(f"  (checks: total {total:,}, ids {len(everyone):,}, chain length {len(managers)})")

        # GET /people?q= (the pickers' search): a family name many share, and one person by part of an
        # address; each beside the same statement as bare SQL (count, then the first page of 50).
        family = org.rows[org.levels[-1][0]][3].lower()
        address = f".{org.levels[-1][0] + 1}@"

        async def search(text_: str, *, every_address: bool) -> tuple[list[Any], int]:
            return await repository.list(limit=50, offset=0, active=True, text=text_, every_address=every_address)

        async def bare_sql(text_: str) -> tuple[int, list[Any]]:
            pattern = {"p": f"%{text_}%"}
            counted = await session.scalar(BARE_COUNT, pattern)
            return int(counted or 0), list(await session.execute(BARE_PAGE, pattern))

        for label, text_ in (("a shared family name", family), ("part of one address", address)):
            title = f"search {label} ({text_!r}): count + first page of 50"
            mine, (_rows, found) = await timed(title, args.runs, partial(search, text_, every_address=False))
            hr, _ = await timed("  the same as HR", args.runs, partial(search, text_, every_address=True))
            floor, (bare_found, _) = await timed("  bare SQL, same predicate", args.runs, partial(bare_sql, text_))
            print(f"  ({found:,} match; bare {bare_found:,}; search/bare {mine / floor:.1f}x, as HR {hr / floor:.1f}x)")
    await engine.dispose()
    print(f"data left in {workdir}")


async def _ids_by_number(session: Any) -> list[tuple[str, uuid.UUID]]:
    from sqlalchemy import select

    from services.reviews.models import Person

    rows = await session.execute(select(Person.employee_number, Person.id))
    return [(number, person_id) for number, person_id in rows.all()]


def _subtree_size(org: Org, index: int) -> int:
    children: dict[int, list[int]] = {}
    for child, manager in enumerate(org.managers):
        if manager is not None:
            children.setdefault(manager, []).append(child)
    count, stack = 0, [index]
    while stack:
        node = stack.pop()
        for child in children.get(node, []):
            count += 1
            stack.append(child)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="An empty reviews database (default: SQLite, WAL, in a temp folder).")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
