"""Encryption at rest: nothing written is in clear on disk, rows cannot be moved, erasure
crypto-shreds and rotation re-wraps only the data keys. Everything through the real service."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import shutil
import stat
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from meritloop.launcher import Launcher
from services.feedback.crypto import parse_kek_file
from services.feedback.models import DataKey, FeedbackItem, PeerRating, TallyKey
from shared.auth import Role
from shared.settings import Environment, Settings
from tests.conftest import TEST_DATABASE_URL, ServiceClientFactory, TokenFactory
from tests.feedback.ratings import Written, assert_ratings_sealed, open_cycle, write_ratings
from tests.feedback.support import ROLES, Org, ensure_directory_stream, make_org
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

PERSON_KEYS_ERASED = "meritloop.feedback.person-keys.erased"


async def give(client: httpx.AsyncClient, org: Org, giver: str, text: str, *receivers: str) -> list[dict[str, Any]]:
    response = await client.post(
        "/feedback",
        json={"receiver_ids": [str(org.id(who)) for who in receivers], "text": text},
        headers=org.headers(giver),
    )
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def write_everything(client: httpx.AsyncClient, org: Org, settings: Settings) -> tuple[list[str], str, Written]:
    """Feedback, a shared item, a request with a question and its answer, and ratings of every
    kind (360, upward, peer); the plaintexts and ratings written."""
    marker = uuid.uuid4().hex
    texts = [f"feedback-{marker}-{n} about the roadmap" for n in range(3)] + [f"question-{marker}", f"answer-{marker}"]
    (item,) = await give(client, org, "giver", texts[0], "receiver")
    await give(client, org, "colleague", texts[1], "receiver", "giver")
    await give(client, org, "manager", texts[2], "receiver")
    assert (await client.post(f"/feedback/{item['id']}/share", headers=org.headers("receiver"))).status_code == 201
    request = await client.post(
        "/feedback-requests",
        json={
            "recipient_ids": [str(org.giver.id)],
            "due_on": (date.today() + timedelta(days=7)).isoformat(),
            "question": texts[3],
        },
        headers=org.headers("receiver"),
    )
    assert request.status_code == 201, request.text
    answer = await client.post(
        f"/feedback-requests/{request.json()['id']}/answer", json={"text": texts[4]}, headers=org.headers("giver")
    )
    assert answer.status_code == 201, answer.text
    # Public praise is stored in clear by design: it shows the scan does find what is there.
    praise = f"praise-{uuid.uuid4().hex}"
    response = await client.post(
        "/praise", json={"receiver_ids": [str(org.receiver.id)], "message": praise}, headers=org.headers("giver")
    )
    assert response.status_code == 201
    # Every text reads back for its reader, so what is on disk is really what the service uses.
    received = (await client.get("/feedback/received", headers=org.headers("receiver"))).json()
    assert {entry["text"] for entry in received["items"]} == {texts[0], texts[1], texts[2], texts[4]}
    written = await write_ratings(client, settings, org)
    # Each rating reads back where it is meant to, so what is sealed is what the service uses.
    given = (await client.get(f"/review-cycles/{written.cycle}/peer-ratings", headers=org.headers("giver"))).json()
    assert {uuid.UUID(row["receiver_id"]): row["rating"] for row in given["items"]} == written.peer_ratings
    return texts, praise, written


def assert_nothing_in_clear(raw: bytes, texts: list[str], praise: str, kek_file: Path, written: Written) -> None:
    assert praise.encode() in raw, "the scan must see plaintext where there is some"
    # The round's competencies are the template's, in clear: the scan sees them, never a rating with them.
    assert all(name.encode() in raw for name in written.competencies)
    for form in written.clear_forms():
        assert form not in raw, form
    for text in texts:
        for encoded in (text.encode(), text.encode("utf-16-le"), text.encode().hex().encode()):
            assert encoded not in raw, text
        # The marker alone is unique to these texts: no piece of one may show either.
        assert text.split("-")[1].encode() not in raw
    for entry in parse_kek_file(kek_file.read_text()):
        assert entry.key not in raw
        assert base64.b64encode(entry.key) not in raw


@pytest.mark.skipif(TEST_DATABASE_URL is not None, reason="the SQLite file is scanned when the tests run on SQLite")
async def test_sqlite_file_holds_no_plaintext(
    service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory
) -> None:
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        org = await make_org(settings.nats_url, client, auth)
        texts, praise, written = await write_everything(client, org, settings)
        database = Path(make_url(settings.database_url("feedback")).database or "")
        # While the service runs, part of it is in the write-ahead log: scan both.
        live = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
        assert_nothing_in_clear(live, texts, praise, settings.feedback_kek_path(), written)
        await assert_ratings_sealed(client.app.state.engine, settings, written)  # type: ignore[attr-defined]
    raw = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    assert_nothing_in_clear(raw, texts, praise, settings.feedback_kek_path(), written)


@pytest.mark.skipif(TEST_DATABASE_URL is None or shutil.which("pg_dump") is None, reason="needs PostgreSQL and pg_dump")
async def test_postgres_dump_holds_no_plaintext(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    texts, praise, written = await write_everything(client, org, settings)
    url = make_url(settings.database_url("feedback")).set(drivername="postgresql")
    dump = await asyncio.to_thread(
        subprocess.run,
        ["pg_dump", "--data-only", "--inserts", url.render_as_string(hide_password=False)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert_nothing_in_clear(dump.stdout, texts, praise, settings.feedback_kek_path(), written)
    await assert_ratings_sealed(client.app.state.engine, settings, written)  # type: ignore[attr-defined]


async def test_a_row_moved_onto_another_fails_to_decrypt(client: httpx.AsyncClient, org: Org) -> None:
    (first,) = await give(client, org, "giver", "first text", "receiver")
    (second,) = await give(client, org, "giver", "second text", "receiver")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        rows = dict((await connection.execute(select(FeedbackItem.id, FeedbackItem.ciphertext))).tuples().all())
        # Swap the two ciphertexts: same giver, receiver and keys, only the item id differs.
        for mine, theirs in ((first, second), (second, first)):
            await connection.execute(
                update(FeedbackItem)
                .where(FeedbackItem.id == uuid.UUID(mine["id"]))
                .values(ciphertext=rows[uuid.UUID(theirs["id"])])
            )
    for who in ("giver", "receiver"):
        page = (
            await client.get("/feedback/received" if who == "receiver" else "/feedback/given", headers=org.headers(who))
        ).json()
        assert {entry["text"] for entry in page["items"]} == {None}, who
        single = (await client.get(f"/feedback/{first['id']}", headers=org.headers(who))).json()
        assert single["text"] is None

    # Re-pointing an item at another giver breaks its binding too.
    (third,) = await give(client, org, "giver", "third text", "colleague")
    async with engine.begin() as connection:
        await connection.execute(
            update(FeedbackItem).where(FeedbackItem.id == uuid.UUID(third["id"])).values(giver_id=org.manager.id)
        )
    moved = (await client.get(f"/feedback/{third['id']}", headers=org.headers("colleague"))).json()
    assert moved["text"] is None


async def test_erasing_a_person_shreds_what_only_they_could_read(
    client: httpx.AsyncClient, org: Org, settings: Settings
) -> None:
    (to_receiver,) = await give(client, org, "giver", "for the receiver", "receiver")
    (from_receiver,) = await give(client, org, "receiver", "from the receiver", "colleague")
    path = f"/feedback-privacy/erasures/{org.receiver.id}"
    for who in ROLES:
        if who not in ("hr", "admin"):
            assert_problem(await client.post(path, headers=org.headers(who)), 403)
    assert (await client.get(f"/feedback/{to_receiver['id']}", headers=org.headers("receiver"))).json()["text"]

    assert (await client.post(path, headers=org.headers("hr"))).status_code == 204
    event, _, _ = await published(settings.nats_url, PERSON_KEYS_ERASED, str(org.receiver.id))
    assert event.data == {"id": str(org.receiver.id), "person_id": str(org.receiver.id)}
    assert (await client.post(path, headers=org.headers("admin"))).status_code == 204

    engine = client.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        key = (await connection.execute(select(DataKey).where(DataKey.person_id == org.receiver.id))).one()
    assert key.wrapped_key is None
    assert key.erased_at is not None

    # The receiver's copy is gone; the other party of each item still reads with their own key.
    received = (await client.get("/feedback/received", headers=org.headers("receiver"))).json()
    assert [entry["text"] for entry in received["items"]] == [None]
    assert (await client.get(f"/feedback/{to_receiver['id']}", headers=org.headers("giver"))).json()["text"] == (
        "for the receiver"
    )
    colleague = (await client.get(f"/feedback/{from_receiver['id']}", headers=org.headers("colleague"))).json()
    assert colleague["text"] == "from the receiver"
    # Nobody can give them anything any more.
    refused = await client.post(
        "/feedback", json={"receiver_ids": [str(org.receiver.id)], "text": "hello"}, headers=org.headers("giver")
    )
    assert problem_fields(refused) == {"receiver_ids"}


async def test_rotation_rewraps_data_keys_and_leaves_content_alone(
    client: httpx.AsyncClient, org: Org, settings: Settings, auth: TokenFactory
) -> None:
    items = await give(client, org, "giver", "before the rotation", "receiver", "colleague")
    # A cycle whose peer ratings are open: its tally key is live and must move to the new KEK too.
    cycle = uuid.uuid4()
    await open_cycle(client, cycle)
    ratings = f"/review-cycles/{cycle}/peer-ratings"
    rated = await client.put(f"{ratings}/{org.receiver.id}", json={"rating": 4}, headers=org.headers("giver"))
    assert rated.status_code == 201, rated.text
    kek_file = settings.feedback_kek_path()
    (old,) = parse_kek_file(kek_file.read_text())
    engine = client.app.state.engine  # type: ignore[attr-defined]

    async def snapshot() -> tuple[dict[uuid.UUID, bytes], dict[uuid.UUID, tuple[str, bytes]]]:
        async with engine.connect() as connection:
            content = dict((await connection.execute(select(FeedbackItem.id, FeedbackItem.ciphertext))).tuples().all())
            content |= dict((await connection.execute(select(PeerRating.id, PeerRating.sealed_rating))).tuples().all())
            keys = {
                row.person_id: (row.kek_id, row.wrapped_key)
                for row in await connection.execute(select(DataKey.person_id, DataKey.kek_id, DataKey.wrapped_key))
            }
            keys |= {
                row.scope_id: (row.kek_id, row.wrapped_key)
                for row in await connection.execute(select(TallyKey.scope_id, TallyKey.kek_id, TallyKey.wrapped_key))
            }
        return content, keys

    content_before, keys_before = await snapshot()
    assert {kek for kek, _ in keys_before.values()} == {old.id}
    assert cycle in keys_before

    environment = {
        **os.environ,
        "MERITLOOP_DATA_DIR": str(settings.data_dir),
        "MERITLOOP_FEEDBACK_DATABASE_URL": settings.database_url("feedback"),
        "MERITLOOP_FEEDBACK_KEK_FILE": str(kek_file),
    }
    command = [sys.executable, "-m", "meritloop.cli", "feedback-keys", "rotate"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    (new,) = parse_kek_file(kek_file.read_text())
    assert new.id != old.id
    assert f"{len(keys_before) - 1} data keys re-wrapped, 1 tally keys re-wrapped" in done.stdout
    assert old.id in done.stdout  # removed from the file
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600

    content_after, keys_after = await snapshot()
    assert content_after == content_before
    assert set(keys_after) == set(keys_before)
    for person, (kek, wrapped) in keys_after.items():
        assert kek == new.id
        assert wrapped != keys_before[person][1]

    # The running service picks the new file up and still reads, and writes under the new key.
    for who, item in (("receiver", items[0]), ("colleague", items[1])):
        mine = item if item["receiver_id"] == str(org.id(who)) else items[1 - items.index(item)]
        read = (await client.get(f"/feedback/{mine['id']}", headers=org.headers(who))).json()
        assert read["text"] == "before the rotation"
    # The rating opens with the re-wrapped tally key (the old KEK is gone from the file).
    given = (await client.get(ratings, headers=org.headers("giver"))).json()
    assert [row["rating"] for row in given["items"]] == [4]
    newcomer = await give(client, org, "manager", "after the rotation", "skip")
    assert (await client.get(f"/feedback/{newcomer[0]['id']}", headers=org.headers("skip"))).json()["text"] == (
        "after the rotation"
    )
    _, keys_now = await snapshot()
    assert {kek for kek, _ in keys_now.values()} == {new.id}


async def test_up_writes_an_owner_only_development_key(settings: Settings) -> None:
    settings.data_dir = settings.data_dir / "up"
    launcher = Launcher(settings, services=("feedback",), out=io.StringIO(), err=io.StringIO())
    launcher._feedback_key()
    path = settings.data_dir.resolve() / "feedback-kek"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (entry,) = parse_kek_file(path.read_text())
    assert len(entry.key) == 32
    launcher._feedback_key()  # a second `up` keeps the key it made
    assert parse_kek_file(path.read_text()) == [entry]


async def test_hr_role_alone_reads_no_text(client: httpx.AsyncClient, org: Org, auth: TokenFactory) -> None:
    """An HR or admin token for the receiver's manager reads no more than the manager does."""
    (item,) = await give(client, org, "giver", "not for HR", "receiver")
    for roles in ((Role.hr,), (Role.admin,), (Role.hr, Role.admin, Role.manager)):
        headers = auth(*roles, person_id=org.manager.id)
        assert_problem(await client.get(f"/feedback/{item['id']}", headers=headers), 404)
        assert "not for HR" not in (await client.get("/feedback/shared-with-me", headers=headers)).text


async def test_production_without_a_key_file_refuses_feedback_routes(
    service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory, tmp_path: Path
) -> None:
    """Production never makes a key of its own: without the file, content routes answer 503."""
    settings.environment = Environment.production
    settings.source_signing_key = SecretStr("a-real-signing-key-of-forty-characters!!")
    settings.feedback_kek_file = tmp_path / "absent" / "feedback-kek"
    async with service_client("feedback") as client:
        response = await client.post(
            "/feedback", json={"receiver_ids": [str(uuid.uuid4())], "text": "hello"}, headers=auth()
        )
        assert_problem(response, 503)
        assert_problem(await client.get("/feedback/received", headers=auth()), 503)
        # Routes without content still work.
        assert (await client.get("/company-values", headers=auth())).status_code == 200
    assert not settings.feedback_kek_file.exists()
