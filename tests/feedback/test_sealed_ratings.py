"""Ratings are sealed under a tally key per 360 round, upward pulse or peer-rating cycle: the
release computes what it always did, then destroys the key; a sealed rating copied or moved onto
another row counts nowhere; the migration seals the ratings that were stored in clear.
Everything through the real service, its routes, activities and migrations."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.feedback.keyring import PEER_CYCLE, PEER_ROUND, UPWARD_PULSE, Keyring, provider_from_settings
from services.feedback.models import PeerAggregate, PeerAnswer, PeerRating, TallyKey, UpwardAnswer, UpwardResult
from services.feedback.service import PeerRatingService
from shared.database import create_engine, utcnow
from shared.migrations import downgrade_async, upgrade_async
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.feedback.ratings import open_cycle, open_round, release_round, tally
from tests.feedback.support import Org, ensure_directory_stream, make_org, person, publish_people, wait_projected
from tests.support.stored import stored_bytes

pytestmark = pytest.mark.database


async def _peers(client: httpx.AsyncClient, settings: Settings, auth: TokenFactory, n: int) -> list[uuid.UUID]:
    people = [person(f"Rater{i}") for i in range(n)]
    await publish_people(settings.nats_url, people)
    await wait_projected(client, auth, people)
    return [p.id for p in people]


async def _tally_row(client: httpx.AsyncClient, kind: str, scope_id: uuid.UUID) -> Any:
    async with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        return (
            await connection.execute(
                sa.select(TallyKey.kek_id, TallyKey.wrapped_key, TallyKey.destroyed_at).where(
                    TallyKey.kind == kind, TallyKey.scope_id == scope_id
                )
            )
        ).one()


async def _execute(client: httpx.AsyncClient, statement: Any) -> None:
    async with client.app.state.engine.begin() as connection:  # type: ignore[attr-defined]
        await connection.execute(statement)


async def test_360_release_counts_what_it_always_did_then_destroys_the_key(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory
) -> None:
    peers = await _peers(client, settings, auth, 4)
    cycle = uuid.uuid4()
    tasks = await open_round(client, settings, org, cycle, peers, ["craft"])
    for task, pid, rating in zip(tasks, peers, (5, 3, 3, 1), strict=True):
        body = {"ratings": {"craft": rating}, "answers": {"strength": f"text {rating}"}}
        answered = await client.post(f"/peer-reviews/{task}/answer", json=body, headers=auth(person_id=pid))
        assert answered.status_code == 201, answered.text
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        answers = {row.id: row for row in await session.scalars(sa.select(PeerAnswer))}
    (round_id,) = {row.round_id for row in answers.values()}
    # Someone with write access to the database copies the sealed 5 onto the row holding the 1:
    # counted, it would lift the mean from 3 (50.0) to 4 (75.0).
    key = await tally(client.app.state.engine, settings, PEER_ROUND, round_id)  # type: ignore[attr-defined]
    by_rating = {key.open_ratings(row.sealed_ratings, "peer-answer", row.id)["craft"]: row for row in answers.values()}
    await _execute(
        client,
        sa.update(PeerAnswer)
        .where(PeerAnswer.id == by_rating[1].id)
        .values(sealed_ratings=by_rating[5].sealed_ratings),
    )
    assert await release_round(client, settings, org, cycle) is True
    result = (await client.get(f"/review-cycles/{cycle}/peer-reviews/me", headers=org.headers("receiver"))).json()
    # The copy opens nowhere but on its own row: three answers count, 5, 3 and 3.
    assert (result["score"], result["rater_count"], result["competency_scores"]) == (66.67, 3, {"craft": 66.67})
    assert len(result["comments"]) == 4  # the texts are sealed apart, for the subject

    row = await _tally_row(client, PEER_ROUND, round_id)
    assert (row.kek_id, row.wrapped_key) == (None, None)
    assert row.destroyed_at is not None
    # Nothing reads a single rating after release: a retried release changes nothing, the result stays.
    assert await release_round(client, settings, org, cycle) is True
    again = (await client.get(f"/review-cycles/{cycle}/peer-reviews/me", headers=org.headers("receiver"))).json()
    assert again == result


async def test_below_k_the_key_is_destroyed_too(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory
) -> None:
    peers = await _peers(client, settings, auth, 3)
    cycle = uuid.uuid4()
    tasks = await open_round(client, settings, org, cycle, peers, ["craft"])
    for task, pid in zip(tasks[:2], peers[:2], strict=True):
        body = {"ratings": {"craft": 4}}
        answered = await client.post(f"/peer-reviews/{task}/answer", json=body, headers=auth(person_id=pid))
        assert answered.status_code == 201, answered.text
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        (round_id,) = set(await session.scalars(sa.select(PeerAnswer.round_id)))
    assert (await _tally_row(client, PEER_ROUND, round_id)).wrapped_key is not None
    assert await release_round(client, settings, org, cycle) is False
    assert (await _tally_row(client, PEER_ROUND, round_id)).wrapped_key is None
    late = await client.post(
        f"/peer-reviews/{tasks[2]}/answer", json={"ratings": {"craft": 1}}, headers=auth(person_id=peers[2])
    )
    assert late.status_code == 409


async def test_upward_close_counts_only_ratings_where_they_were_given(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory
) -> None:
    reports = [person(f"Report{i}", manager=org.manager.id) for i in range(2)]
    await publish_people(settings.nats_url, reports)
    await wait_projected(client, auth, reports)
    body = {"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat()}
    pulse = (await client.post("/upward-feedback", json=body, headers=org.headers("hr"))).json()["id"]
    for headers, rating in (
        (org.headers("receiver"), 4),
        (auth(person_id=reports[0].id), 4),
        (auth(person_id=reports[1].id), 4),
        (org.headers("giver"), 1),  # about other_lead
    ):
        answered = await client.post(f"/upward-feedback/{pulse}/answers", json={"rating": rating}, headers=headers)
        assert answered.status_code == 201, answered.text
    # The giver's 1 is re-pointed at the manager: counted, the manager's mean would drop to 3.25.
    assert org.giver.manager_id is not None
    await _execute(
        client,
        sa.update(UpwardAnswer)
        .where(UpwardAnswer.manager_id == org.giver.manager_id)
        .values(manager_id=org.manager.id),
    )
    assert (await client.post(f"/upward-feedback/{pulse}/close", headers=org.headers("hr"))).status_code == 200
    mine = (await client.get(f"/upward-feedback/{pulse}/results/me", headers=org.headers("manager"))).json()
    assert (mine["released"], mine["score"], mine["rater_count"]) == (True, 75.0, 3)
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        result = await session.get(UpwardResult, (uuid.UUID(pulse), org.manager.id))
    assert result is not None
    assert (result.rating_sum, result.rater_count) == (12, 3)
    row = await _tally_row(client, UPWARD_PULSE, uuid.UUID(pulse))
    assert (row.kek_id, row.wrapped_key) == (None, None)
    late = await client.post(f"/upward-feedback/{pulse}/answers", json={"rating": 5}, headers=org.headers("colleague"))
    assert late.status_code == 409


async def test_peer_ratings_close_into_the_same_aggregates_and_then_read_as_null(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory
) -> None:
    raters = await _peers(client, settings, auth, 4)
    cycle = uuid.uuid4()
    await open_cycle(client, cycle)
    base = f"/review-cycles/{cycle}/peer-ratings"
    for rater, receiver, rating in (
        (raters[0], org.receiver.id, 4),
        (raters[1], org.receiver.id, 4),
        (raters[2], org.receiver.id, 5),
        (raters[3], org.colleague.id, 1),
    ):
        response = await client.put(f"{base}/{receiver}", json={"rating": rating}, headers=auth(person_id=rater))
        assert response.status_code == 201, response.text
    # A changed rating is sealed anew: 4, 4 and 4 for the receiver.
    changed = await client.put(f"{base}/{org.receiver.id}", json={"rating": 4}, headers=auth(person_id=raters[2]))
    assert (changed.status_code, changed.json()["rating"]) == (200, 4)
    # The colleague's 1 re-pointed at the receiver: counted, the mean would drop to 3.25.
    await _execute(
        client,
        sa.update(PeerRating)
        .where(PeerRating.cycle_id == cycle, PeerRating.receiver_id == org.colleague.id)
        .values(receiver_id=org.receiver.id),
    )
    async with client.app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        keyring = Keyring(session, provider_from_settings(settings))
        assert await PeerRatingService(session, keyring).close(cycle) == 1
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        aggregates = list(await session.scalars(sa.select(PeerAggregate).where(PeerAggregate.cycle_id == cycle)))
    assert [(a.person_id, a.score, a.rater_count) for a in aggregates] == [(org.receiver.id, 75.0, 3)]
    row = await _tally_row(client, PEER_CYCLE, cycle)
    assert (row.kek_id, row.wrapped_key) == (None, None)
    # The giver still lists whom they rated; the value is gone with the key.
    given = (await client.get(base, headers=auth(person_id=raters[1]))).json()
    assert given["total"] == 1
    assert [item["rating"] for item in given["items"]] == [None]


# --- migration 0010: ratings stored in clear before it are sealed by it -------------------------

ROUNDS = sa.table(
    "peer_rounds",
    *(sa.column(name, sa.Uuid()) for name in ("id", "cycle_id", "person_id", "manager_id")),
    sa.column("questions", sa.JSON()),
    sa.column("competencies", sa.JSON()),
    sa.column("min_raters", sa.Integer()),
    sa.column("closes_at", sa.DateTime(timezone=True)),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
ANSWERS = sa.table(
    "peer_answers",
    sa.column("id", sa.Uuid()),
    sa.column("round_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("ratings", sa.JSON()),
)
PULSES = sa.table(
    "upward_pulses",
    sa.column("id", sa.Uuid()),
    sa.column("title", sa.String()),
    sa.column("created_by", sa.Uuid()),
    sa.column("closes_at", sa.DateTime(timezone=True)),
    sa.column("min_raters", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
UPWARD = sa.table(
    "upward_answers",
    *(sa.column(name, sa.Uuid()) for name in ("id", "pulse_id", "manager_id")),
    sa.column("giver_tag", sa.LargeBinary()),
    sa.column("position", sa.Integer()),
    sa.column("rating", sa.Integer()),
)
CYCLES = sa.table(
    "peer_cycles",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
RATINGS = sa.table(
    "peer_ratings",
    *(sa.column(name, sa.Uuid()) for name in ("id", "cycle_id", "receiver_id")),
    sa.column("giver_tag", sa.LargeBinary()),
    sa.column("rating", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
# Distinctive competency names: a rating stored in clear next to one would show in the file.
OPEN_RATINGS = ({"legacy-craft-6120": 5}, {"legacy-craft-6120": 2}, {"legacy-craft-6120": 5})
RELEASED_RATINGS = ({"legacy-done-7043": 1}, {"legacy-done-7043": 4}, {"legacy-done-7043": 4})


async def _legacy_rows(url: str, org: Org) -> dict[str, uuid.UUID]:
    """At revision 0009: an open and a released round, an open and a closed pulse, an open and a
    closed peer-rating cycle, each with ratings in clear."""
    ids = {name: uuid.uuid4() for name in ("open_round", "done_round", "open_pulse", "done_pulse")}
    ids |= {"open_cycle": uuid.uuid4(), "done_cycle": uuid.uuid4(), "round_cycle": uuid.uuid4()}
    now = utcnow()
    engine = create_engine(url)
    async with engine.begin() as connection:
        for name, status, cycle, ratings in (
            ("open_round", "open", ids["round_cycle"], OPEN_RATINGS),
            ("done_round", "released", uuid.uuid4(), RELEASED_RATINGS),
        ):
            await connection.execute(
                ROUNDS.insert().values(
                    id=ids[name],
                    cycle_id=cycle,
                    person_id=org.receiver.id,
                    manager_id=org.manager.id,
                    questions=[],
                    competencies=list(ratings[0]),
                    min_raters=3,
                    closes_at=now + timedelta(days=2),
                    status=status,
                    created_at=now,
                )
            )
            for n, values in enumerate(ratings):
                await connection.execute(
                    ANSWERS.insert().values(id=uuid.uuid4(), round_id=ids[name], position=n, ratings=values)
                )
        for name, status, given in (("open_pulse", "open", (5, 4, 3)), ("done_pulse", "closed", (1, 2, 1))):
            await connection.execute(
                PULSES.insert().values(
                    id=ids[name],
                    title="Legacy",
                    created_by=org.hr.id,
                    closes_at=now + timedelta(days=2),
                    min_raters=3,
                    status=status,
                    created_at=now,
                )
            )
            for n, rating in enumerate(given):
                await connection.execute(
                    UPWARD.insert().values(
                        id=uuid.uuid4(),
                        pulse_id=ids[name],
                        manager_id=org.manager.id,
                        giver_tag=uuid.uuid4().bytes * 2,
                        position=n,
                        rating=rating,
                    )
                )
        for name, status in (("open_cycle", "open"), ("done_cycle", "closed")):
            await connection.execute(CYCLES.insert().values(id=ids[name], status=status, created_at=now))
        giver_tag = uuid.uuid4().bytes * 2
        ids["legacy_giver_tag_rating"] = uuid.uuid4()
        await connection.execute(
            RATINGS.insert().values(
                id=ids["legacy_giver_tag_rating"],
                cycle_id=ids["open_cycle"],
                receiver_id=org.receiver.id,
                giver_tag=giver_tag,
                rating=3,
                created_at=now,
            )
        )
        await connection.execute(
            RATINGS.insert().values(
                id=uuid.uuid4(),
                cycle_id=ids["done_cycle"],
                receiver_id=org.receiver.id,
                giver_tag=giver_tag,
                rating=2,
                created_at=now,
            )
        )
    await engine.dispose()
    return ids


async def test_the_migration_seals_ratings_stored_in_clear(
    service_client: ServiceClientFactory,
    settings: Settings,
    auth: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The migration runs with the installation's settings, as `meritloop migrate` would.
    monkeypatch.setenv("MERITLOOP_FEEDBACK_KEK_FILE", str(settings.feedback_kek_path()))
    monkeypatch.setenv("MERITLOOP_ENVIRONMENT", "test")
    url = settings.database_url("feedback")
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        org = await make_org(settings.nats_url, client, auth)
    await downgrade_async("feedback", url, "0009")
    ids = await _legacy_rows(url, org)
    clear = [json.dumps(values).encode() for values in (*OPEN_RATINGS, *RELEASED_RATINGS)]
    before = await stored_bytes(url)
    assert all(form in before for form in clear), "the scan sees ratings stored in clear"

    await upgrade_async("feedback", url)
    # Down and up again: the downgrade opens what a live key opens, the upgrade seals it anew.
    await downgrade_async("feedback", url, "0009")
    engine = create_engine(url)
    async with engine.connect() as connection:
        restored = (
            await connection.execute(sa.select(ANSWERS.c.round_id, ANSWERS.c.ratings).order_by(ANSWERS.c.position))
        ).all()
        upward = (await connection.execute(sa.select(UPWARD.c.pulse_id, UPWARD.c.rating))).all()
    await engine.dispose()
    assert sorted(map(json.dumps, (r for round_id, r in restored if round_id == ids["open_round"]))) == sorted(
        map(json.dumps, OPEN_RATINGS)
    )
    # A released round's ratings were not kept (its key was thrown away): a stand-in, no rating.
    assert [r for round_id, r in restored if round_id == ids["done_round"]] == [{}, {}, {}]
    assert sorted(r for pulse, r in upward if pulse == ids["open_pulse"]) == [3, 4, 5]
    assert [r for pulse, r in upward if pulse == ids["done_pulse"]] == [0, 0, 0]
    await upgrade_async("feedback", url)

    raw = await stored_bytes(url)
    for form in clear:
        assert form not in raw
    async with service_client("feedback") as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        async with engine.connect() as connection:
            keys = {(row.kind, row.scope_id): row for row in await connection.execute(sa.select(TallyKey.__table__))}
        # Open scopes have a live key under the KEK; closed ones only a tombstone.
        assert {scope: row.wrapped_key is not None for scope, row in keys.items()} == {
            (PEER_ROUND, ids["open_round"]): True,
            (UPWARD_PULSE, ids["open_pulse"]): True,
            (PEER_CYCLE, ids["open_cycle"]): True,
            (PEER_ROUND, ids["done_round"]): False,
            (UPWARD_PULSE, ids["done_pulse"]): False,
            (PEER_CYCLE, ids["done_cycle"]): False,
        }
        # The open round and pulse release what their clear ratings gave, through the real paths.
        assert await release_round(client, settings, org, ids["round_cycle"]) is True
        result = (
            await client.get(f"/review-cycles/{ids['round_cycle']}/peer-reviews/me", headers=org.headers("receiver"))
        ).json()
        assert (result["score"], result["rater_count"]) == (75.0, 3)  # 5, 2, 5
        closed = await client.post(f"/upward-feedback/{ids['open_pulse']}/close", headers=org.headers("hr"))
        assert closed.status_code == 200, closed.text
        mine = (
            await client.get(f"/upward-feedback/{ids['open_pulse']}/results/me", headers=org.headers("manager"))
        ).json()
        assert (mine["score"], mine["rater_count"]) == (75.0, 3)  # 5, 4, 3
        # The open cycle's legacy rating opens with its key and its binding (row, receiver, tag).
        cycle_key = await tally(engine, settings, PEER_CYCLE, ids["open_cycle"])
        async with engine.connect() as connection:
            legacy = (
                await connection.execute(sa.select(PeerRating).where(PeerRating.id == ids["legacy_giver_tag_rating"]))
            ).one()
        assert (
            cycle_key.open_rating(legacy.sealed_rating, "peer-rating", legacy.id, legacy.receiver_id, legacy.giver_tag)
            == 3
        )
