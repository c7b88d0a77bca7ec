"""Written feedback at scale: the received-feedback page and the encryption envelope.

    python -m bench.feedback [--people 100000] [--items 1000000] [--sample 400] [--heavy 100]

1. Seeds a migrated SQLite feedback database (temporary folder, WAL, the service's pragmas)
   with ``--people`` active people in the people projection, a data key each (wrapped by
   the KEK of a ``FileKeyProvider``, as ``Keyring.data_key`` does) and ``--items`` feedback
   items, each sealed like ``Keyring.seal``: a fresh content key, the text under it bound to
   (kind, id, giver, receiver), the content key wrapped for giver and receiver under their
   data keys. Bulk inserts (``shared.database.insert_many``), not timed as the service's.
   ``--heavy-share`` of the items go to ``--heavy`` people (managers, popular colleagues), so
   that a deep page exists; the rest are spread uniformly (about ten per person).
2. Through the real feedback app (in-process over ``httpx.ASGITransport``, the person's own
   token): ``GET /feedback/received`` for ``--sample`` random people (first page of 50) and
   for every heavy receiver (first page and the last page, offset total - 50), sequentially;
   p50/p95/p99/max. Every answer is checked (status, total, 50 texts that decrypted).
   The bare platform in the same run: the page's one SQL statement (``PAGE_SQL``: the page,
   the reader's wrapped keys, share flags, total) through a raw ``sqlite3`` connection for
   the same people, rows fetched, nothing decrypted. Per request the CPU seconds of this
   process (the app runs in it) are printed too: on a shared machine they move less; and
   the CPU seconds of ``FeedbackService.received`` alone (a session, the query, decryption,
   the response models; no HTTP, token, middleware or telemetry).
3. Encryption throughput, same run: per item, ``Keyring.seal``'s envelope (content key,
   text, two wrapped content keys) and the reader's open (unwrap the content key, decrypt),
   against bare AES-GCM of the same plaintext (one ``AESGCM.encrypt``/``decrypt`` with a
   prepared key, random nonce): items/s, MB/s and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from services.feedback.crypto import (
    NONCE_BYTES,
    content_aad,
    content_key_aad,
    data_key_aad,
    new_key,
    open_sealed,
    seal,
)
from services.feedback.keyring import Keyring, provider_from_settings
from services.feedback.models import ContentKey, DataKey, FeedbackItem, Person
from services.feedback.service import FEEDBACK, FeedbackService
from shared.auth import Principal, Role, mint_token
from shared.database import create_engine, create_sessionmaker, insert_many
from shared.migrations import upgrade_async
from shared.settings import Environment, Settings

PAGE = 50
SENTENCES = (
    "thanks for the clear write-up of the migration plan; the review went faster because of it. "
    "next time please loop in the on-call team earlier, they were surprised by the cut-over. "
    "your mentoring of the new joiners shows: they ask better questions every week. "
)
WORDS = SENTENCES.split()
# What FeedbackRepository.page_for_reader sends (one statement: page, keys, share flags, total).
PAGE_SQL = (
    "SELECT feedback_items.giver_id, feedback_items.receiver_id, feedback_items.ciphertext, feedback_items.goal_id, "
    "feedback_items.competency_id, feedback_items.company_value_id, feedback_items.request_id, feedback_items.id, "
    "feedback_items.created_at, feedback_items.modified_at, feedback_content_keys.wrapped_key, "
    "EXISTS (SELECT feedback_shares.id FROM feedback_shares WHERE feedback_shares.item_id = feedback_items.id "
    "AND feedback_shares.revoked_at IS NULL) AS anon_1, "
    "(SELECT count(*) AS count_1 FROM feedback_items WHERE feedback_items.receiver_id = ?) AS anon_2 "
    "FROM (SELECT feedback_items.id AS cut_id, feedback_items.created_at AS cut_at FROM feedback_items "
    "WHERE feedback_items.receiver_id = ? ORDER BY feedback_items.created_at DESC, feedback_items.id DESC "
    "LIMIT ? OFFSET ?) AS anon_3 JOIN feedback_items ON feedback_items.id = anon_3.cut_id "
    "LEFT OUTER JOIN feedback_content_keys ON feedback_content_keys.object_id = feedback_items.id "
    "AND feedback_content_keys.reader_id = ? ORDER BY anon_3.cut_at DESC, anon_3.cut_id DESC"
)


def log(message: str) -> None:
    print(message, flush=True)


def feedback_text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(20, 80)))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.50):6.1f}  p95 {at(0.95):6.1f}  p99 {at(0.99):6.1f}  max {ordered[-1] * 1000:6.1f} ms"


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


async def seed(settings: Settings, args: argparse.Namespace) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """People, data keys and sealed items; returns everyone and the heavy receivers."""
    rng = random.Random(args.seed)
    url = settings.database_url("feedback")
    provider = provider_from_settings(settings)
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    people = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(args.people)]
    heavy = people[: args.heavy]
    now = datetime.now(UTC)
    started = time.perf_counter()
    data_keys: dict[uuid.UUID, bytes] = {}
    try:
        async with sessionmaker() as session, session.begin():
            # A large page cache for the seeding connection only: random UUIDs go into the indexes.
            await session.execute(text("PRAGMA cache_size=-400000"))
            person_rows = [(pid, 1, f"Person {i}", f"p{i}@example.com", True, now) for i, pid in enumerate(people)]
            await insert_many(
                session,
                Person.__table__,  # type: ignore[arg-type]
                ("id", "version", "display_name", "email", "active", "synced_at"),
                person_rows,
            )
            key_rows = []
            for pid in people:
                key = new_key()
                kek_id, wrapped = await provider.wrap(key, data_key_aad(pid))
                data_keys[pid] = key
                key_rows.append((pid, kek_id, wrapped, now))
            await insert_many(
                session,
                DataKey.__table__,  # type: ignore[arg-type]
                ("person_id", "kek_id", "wrapped_key", "created_at"),
                key_rows,
            )
        log(f"  {args.people:,} people and data keys in {time.perf_counter() - started:.1f} s")
        texts = [feedback_text(rng) for _ in range(997)]
        heavy_items = int(args.items * args.heavy_share) if heavy else 0
        item_columns = ("id", "giver_id", "receiver_id", "ciphertext", "created_at")
        key_columns = ("object_id", "reader_id", "wrapped_key")
        done = 0
        seal_seconds = 0.0
        span = timedelta(days=730).total_seconds()
        while done < args.items:
            batch = min(args.batch, args.items - done)
            items, keys = [], []
            sealing = time.perf_counter()
            for n in range(done, done + batch):
                receiver = heavy[n % len(heavy)] if n < heavy_items else people[rng.randrange(len(people))]
                giver = people[rng.randrange(len(people))]
                while giver == receiver:
                    giver = people[rng.randrange(len(people))]
                item_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                created = now - timedelta(seconds=rng.random() * span)
                # Exactly Keyring.seal: a fresh content key, wrapped for each reader.
                aad = content_aad(FEEDBACK, item_id, giver, receiver)
                content_key = new_key()
                items.append((item_id, giver, receiver, seal(content_key, texts[n % 997].encode(), aad), created))
                for reader in (giver, receiver):
                    keys.append((item_id, reader, seal(data_keys[reader], content_key, content_key_aad(aad, reader))))
            seal_seconds += time.perf_counter() - sealing
            async with sessionmaker() as session, session.begin():
                await session.execute(text("PRAGMA cache_size=-400000"))
                await insert_many(session, FeedbackItem.__table__, item_columns, items)  # type: ignore[arg-type]
                await insert_many(session, ContentKey.__table__, key_columns, keys)  # type: ignore[arg-type]
            done += batch
            elapsed = time.perf_counter() - started
            log(f"  {done:,} / {args.items:,} items ({done / elapsed:,.0f}/s overall, sealing {seal_seconds:.1f} s)")
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()
    finally:
        await engine.dispose()
    log(f"seeded in {time.perf_counter() - started:.1f} s (sealing {seal_seconds:.1f} s of it)")
    return people, heavy


async def measure_pages(
    settings: Settings, targets: list[tuple[str, uuid.UUID, bool]], expected: dict[uuid.UUID, int], warm_up: int
) -> dict[str, list[float]]:
    from services.feedback.app import create

    app = create(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    timings: dict[str, list[float]] = {}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://feedback") as client:
            # The first requests (imports, connections, the KEK file read) are not counted.
            for index, (label, person, deep) in enumerate([*targets[:warm_up], *targets]):
                headers = {"Authorization": f"Bearer {mint_token(settings, person, (Role.employee,))}"}
                offset = max(0, expected[person] - PAGE) if deep else 0
                started, cpu = time.perf_counter(), time.process_time()
                response = await client.get(
                    "/feedback/received", params={"limit": PAGE, "offset": offset}, headers=headers
                )
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                if response.status_code != 200:
                    raise SystemExit(f"{label}: {response.status_code} {response.text[:300]}")
                body = response.json()
                if body["total"] != expected[person]:
                    raise SystemExit(f"{label}: total {body['total']} != {expected[person]}")
                want = min(PAGE, expected[person] - offset)
                readable = sum(item["text"] is not None for item in body["items"])
                if len(body["items"]) != want or readable != want:
                    raise SystemExit(f"{label}: {len(body['items'])} items, {readable} readable, want {want}")
                if index >= warm_up:
                    timings.setdefault(label, []).append(elapsed)
                    timings.setdefault(label + " cpu", []).append(cpu)
    finally:
        await app.state.engine.dispose()
    return timings


async def measure_service(
    settings: Settings, targets: list[tuple[str, uuid.UUID, bool]], expected: dict[uuid.UUID, int]
) -> dict[str, list[float]]:
    """``FeedbackService.received`` alone (a session per call, no HTTP, auth or middleware): CPU seconds."""
    engine = create_engine(settings.database_url("feedback"))
    sessionmaker = create_sessionmaker(engine)
    provider = provider_from_settings(settings)
    timings: dict[str, list[float]] = {}
    try:
        for label, person, deep in targets:
            offset = max(0, expected[person] - PAGE) if deep else 0
            cpu = time.process_time()
            async with sessionmaker() as session:
                service = FeedbackService(session, Keyring(session, provider))
                items, total = await service.received(
                    Principal(person, frozenset({Role.employee})), limit=PAGE, offset=offset
                )
            timings.setdefault(label, []).append(time.process_time() - cpu)
            assert total == expected[person] and all(item.text is not None for item in items)  # noqa: PT018
    finally:
        await engine.dispose()
    return timings


def bare_pages(
    database: Path, targets: list[tuple[str, uuid.UUID, bool]], expected: dict[uuid.UUID, int]
) -> dict[str, list[float]]:
    """The page's one statement (``PAGE_SQL``) through the raw driver, rows fetched, nothing decrypted."""
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    timings: dict[str, list[float]] = {}
    try:
        for label, person, deep in targets:
            offset = max(0, expected[person] - PAGE) if deep else 0
            started = time.perf_counter()
            rows = connection.execute(PAGE_SQL, (person.hex, person.hex, PAGE, offset, person.hex)).fetchall()
            elapsed = time.perf_counter() - started
            assert rows[0][12] == expected[person], (rows[0][12], expected[person])
            assert all(row[10] is not None for row in rows)
            timings.setdefault(label, []).append(elapsed)
    finally:
        connection.close()
    return timings


def throughput(seconds: float, count: int, size: int) -> str:
    return f"{count / seconds:10,.0f} items/s  {size / seconds / 1e6:6.1f} MB/s"


def encryption(count: int, rng: random.Random) -> None:
    """Keyring.seal's envelope and the reader's open against bare AES-GCM of the same plaintexts."""
    plaintexts = [feedback_text(rng).encode() for _ in range(count)]
    size = sum(map(len, plaintexts))
    giver, receiver = uuid.uuid4(), uuid.uuid4()
    giver_key, receiver_key = new_key(), new_key()
    ids = [uuid.uuid4() for _ in range(count)]

    def envelope_seal() -> list[tuple[bytes, bytes]]:
        out = []
        for item_id, plaintext in zip(ids, plaintexts, strict=True):
            aad = content_aad(FEEDBACK, item_id, giver, receiver)
            content_key = new_key()
            ciphertext = seal(content_key, plaintext, aad)
            seal(giver_key, content_key, content_key_aad(aad, giver))
            out.append((ciphertext, seal(receiver_key, content_key, content_key_aad(aad, receiver))))
        return out

    sealed = envelope_seal()

    def envelope_open() -> None:
        for item_id, (ciphertext, wrapped) in zip(ids, sealed, strict=True):
            aad = content_aad(FEEDBACK, item_id, giver, receiver)
            content_key = open_sealed(receiver_key, wrapped, content_key_aad(aad, receiver))
            open_sealed(content_key, ciphertext, aad)

    bare_key = AESGCM(new_key())
    bare_sealed: list[tuple[bytes, bytes]] = []

    def bare_seal() -> None:
        bare_sealed.clear()
        for plaintext in plaintexts:
            nonce = os.urandom(NONCE_BYTES)
            bare_sealed.append((nonce, bare_key.encrypt(nonce, plaintext, None)))

    bare_seal()

    def bare_open() -> None:
        for nonce, ciphertext in bare_sealed:
            bare_key.decrypt(nonce, ciphertext, None)

    def best(function: Callable[[], object]) -> float:
        # Alternating rounds, best of three: the neighbours on a shared machine only ever add time.
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            function()
            runs.append(time.perf_counter() - started)
        return min(runs)

    results = {}
    for name, function in (
        ("envelope seal", envelope_seal),
        ("bare seal", bare_seal),
        ("envelope open", envelope_open),
        ("bare open", bare_open),
    ):
        results[name] = best(function)
    mean = size / count
    log(f"encryption, {count:,} texts of {mean:.0f} bytes on average (best of 3):")
    log(f"  envelope seal (content key, text, 2 wrapped keys) {throughput(results['envelope seal'], count, size)}")
    log(f"  bare AES-GCM encrypt of the same texts            {throughput(results['bare seal'], count, size)}")
    log(f"  envelope open (unwrap content key, decrypt)       {throughput(results['envelope open'], count, size)}")
    log(f"  bare AES-GCM decrypt of the same texts            {throughput(results['bare open'], count, size)}")
    seal_ratio = results["envelope seal"] / results["bare seal"]
    open_ratio = results["envelope open"] / results["bare open"]
    log(f"  ratio envelope / bare: seal {seal_ratio:.1f}x slower, open {open_ratio:.1f}x slower")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="meritloop-bench-feedback-") as folder:
        workdir = Path(folder)
        database = workdir / "feedback.db"
        settings = Settings(
            environment=Environment.development,
            data_dir=workdir,
            feedback_database_url=f"sqlite+aiosqlite:///{database}",
        )
        await upgrade_async("feedback", settings.database_url("feedback"))
        log(f"seeding {args.people:,} people and {args.items:,} feedback items into {database} ...")
        people, heavy = await seed(settings, args)
        log(f"database {database.stat().st_size / 1e6:,.0f} MB")
        rng = random.Random(args.seed + 1)
        sample = rng.sample(people[args.heavy :], min(args.sample, len(people) - args.heavy))
        connection = sqlite3.connect(database)
        expected: dict[uuid.UUID, int] = {}
        for person in [*sample, *heavy]:
            (expected[person],) = connection.execute(
                "SELECT count(*) FROM feedback_items WHERE receiver_id = ?", (person.hex,)
            ).fetchone()
        connection.close()
        typical = statistics.mean(expected[p] for p in sample)
        heavy_mean = statistics.mean(expected[p] for p in heavy) if heavy else 0
        log(f"a sampled person received {typical:.1f} items on average; a heavy receiver {heavy_mean:,.0f}")
        targets = [("any person, first page", p, False) for p in sample]
        targets += [("heavy receiver, first page", p, False) for p in heavy]
        targets += [("heavy receiver, last page", p, True) for p in heavy]
        rng.shuffle(targets)
        ours = await measure_pages(settings, targets, expected, warm_up=20)
        service_cpu = await measure_service(settings, targets, expected)
        bare = bare_pages(database, targets, expected)
        log("GET /feedback/received through the app (50 per page, sequential):")
        worst = 0.0
        for label in ("any person, first page", "heavy receiver, first page", "heavy receiver, last page"):
            if label not in ours:
                continue
            worst = max(worst, p99(ours[label]))
            log(f"  {label:28} n={len(ours[label]):4}  {percentiles(ours[label])}")
            log(f"  {'  CPU of this process':28} n={len(ours[label]):4}  {percentiles(ours[label + ' cpu'])}")
            log(f"  {'  CPU, service layer alone':28} n={len(ours[label]):4}  {percentiles(service_cpu[label])}")
            log(f"  {'  bare sqlite3, same SQL':28} n={len(bare[label]):4}  {percentiles(bare[label])}")
            log(f"  {'  ratio of p99':28} {p99(ours[label]) / p99(bare[label]):.1f}x")
        verdict = "met" if worst <= 50 else "MISSED"
        log(f"worst p99 {worst:.1f} ms; goal <= 50 ms: {verdict}")
        encryption(args.encrypt, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--heavy", type=int, default=100, help="people who receive a share of the items each")
    parser.add_argument("--heavy-share", type=float, default=0.1, help="the part of all items they receive")
    parser.add_argument("--sample", type=int, default=400, help="random people whose first page is timed")
    parser.add_argument("--batch", type=int, default=50_000, help="items per seeding transaction")
    parser.add_argument("--encrypt", type=int, default=50_000, help="texts for the encryption throughput")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.heavy >= args.people:
        sys.exit("--heavy must be fewer than --people")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
