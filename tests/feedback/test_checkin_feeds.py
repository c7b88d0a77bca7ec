"""A person's 1:1s as a calendar subscription: an address with a secret (only its digest stored), every
series of its owner in one calendar, replaced or stopped by its owner, dead once they leave; through the
real service and bus."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
from sqlalchemy import select

from services.feedback.models import CheckinCalendarFeed
from shared.settings import Settings
from tests.feedback.support import ROLES, Org, publish_people
from tests.feedback.test_checkins import at, next_weekday, occurrences, start_series
from tests.support.bus import published
from tests.support.http import assert_problem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

FEED = "/checkins/calendar-feed"
ENDED = "meritloop.feedback.checkin.series-ended"


async def subscribe(client: httpx.AsyncClient, org: Org, who: str) -> str:
    made = await client.post(FEED, headers=org.headers(who))
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


async def calendar(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{FEED}/calendar", headers={"X-Calendar-Token": token})


def summaries(text: str) -> list[str]:
    return sorted({line for line in text.splitlines() if line.startswith("SUMMARY:")})


async def test_every_series_of_the_owner_in_one_calendar_without_agendas(client: httpx.AsyncClient, org: Org) -> None:
    with_receiver = await start_series(client, org)
    [first, *_] = await occurrences(client, org, with_receiver)
    agenda = at(with_receiver, first, "/agenda")
    point = await client.post(agenda, json={"text": "Salary worries, private"}, headers=org.headers("receiver"))
    assert point.status_code == 201, point.text
    # The manager's own 1:1 with their manager (skip), started by the skip-level.
    upward = await start_series(
        client, org, "skip", report_id=str(org.manager.id), starts_at=next_weekday(3).isoformat()
    )
    assert (await client.get(FEED, headers=org.headers("manager"))).json() == {"active": False, "created_at": None}

    token = await subscribe(client, org, "manager")
    status = (await client.get(FEED, headers=org.headers("manager"))).json()
    assert status["active"] is True
    assert status["created_at"]
    assert token not in str(status)
    answer = await calendar(client, token)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert answer.headers["cache-control"] == "private, no-store"
    text = answer.text
    assert "X-WR-CALNAME:Meritloop 1:1s" in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT60M" in text
    assert summaries(text) == ["SUMMARY:1:1: Manager and Receiver", "SUMMARY:1:1: Skip and Manager"]
    assert f"UID:{with_receiver['id']}@meritloop" in text
    assert f"UID:{upward['id']}@meritloop" in text
    assert text.count("BEGIN:VTIMEZONE") == 1  # one zone, written once
    assert "Salary" not in text

    # The receiver's own address shows their series only.
    theirs = (await calendar(client, await subscribe(client, org, "receiver"))).text
    assert summaries(theirs) == ["SUMMARY:1:1: Manager and Receiver"]

    # An ended series stays, ending; a new one appears at the next read (the client refreshes hourly).
    ended = await client.post(f"/checkins/series/{with_receiver['id']}/end", headers=org.headers("manager"))
    assert ended.status_code == 200, ended.text
    assert "STATUS:CANCELLED" in (await calendar(client, token)).text


async def test_only_the_digest_is_kept_and_a_new_address_ends_the_old(client: httpx.AsyncClient, org: Org) -> None:
    await start_series(client, org)
    first = await subscribe(client, org, "receiver")
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        [row] = (await session.scalars(select(CheckinCalendarFeed))).all()
    assert row.token_digest == hashlib.sha256(first.encode()).hexdigest()
    assert row.person_id == org.receiver.id

    second = await subscribe(client, org, "receiver")
    assert second != first
    assert len(second) >= 43
    assert_problem(await calendar(client, first), 404)
    assert (await calendar(client, second)).status_code == 200

    # Stopped: the address is dead; stopping again is no error.
    assert (await client.delete(FEED, headers=org.headers("receiver"))).status_code == 204
    assert (await client.delete(FEED, headers=org.headers("receiver"))).status_code == 204
    assert_problem(await calendar(client, second), 404)
    assert (await client.get(FEED, headers=org.headers("receiver"))).json()["active"] is False


async def test_a_double_click_makes_two_addresses_of_which_one_works(client: httpx.AsyncClient, org: Org) -> None:
    """A delete then an insert failed the second request on the unique person (PostgreSQL): a 500."""
    await start_series(client, org)
    tokens = await asyncio.gather(*(subscribe(client, org, "receiver") for _ in range(4)))
    answers = [(await calendar(client, token)).status_code for token in tokens]
    assert sorted(answers) == [200, 404, 404, 404]
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        [row] = (await session.scalars(select(CheckinCalendarFeed))).all()
    assert row.token_digest == hashlib.sha256(tokens[answers.index(200)].encode()).hexdigest()


async def test_a_guess_a_malformed_secret_or_none_gets_nothing(client: httpx.AsyncClient, org: Org) -> None:
    await subscribe(client, org, "receiver")
    for guess in ("x", "A" * 43, "A" * 101, "../../etc/passwd"):
        answer = await calendar(client, guess)
        body = assert_problem(answer, 404)
        assert guess not in str(body)
    assert_problem(await calendar(client, "A" * 501), 404)
    assert_problem(await client.get(f"{FEED}/calendar"), 401)
    assert_problem(await calendar(client, "   "), 401)
    document = (await client.get("/openapi.json")).json()
    assert "404" in document["paths"][f"{FEED}/calendar"]["get"]["responses"]


async def test_the_address_of_someone_who_left_is_dead(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    series = await start_series(client, org)
    token = await subscribe(client, org, "receiver")
    assert (await calendar(client, token)).status_code == 200
    await publish_people(settings.nats_url, [org.receiver.model_copy(update={"version": 2, "active": False})])
    await published(settings.nats_url, ENDED, series["id"])

    async def dead() -> bool:
        return (await calendar(client, token)).status_code == 404

    await wait_until(dead, message="the leaver's address stopped")
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]

    async def deleted() -> bool:
        async with sessionmaker() as session:
            return (await session.scalar(select(CheckinCalendarFeed))) is None

    await wait_until(deleted, message="the leaver's address was deleted")
    # Back in the directory: the old address stays dead.
    await publish_people(settings.nats_url, [org.receiver.model_copy(update={"version": 3, "active": True})])
    await wait_until(lambda: _active(client, org), message="the returner is active again")
    assert_problem(await calendar(client, token), 404)


async def test_who_may_make_see_or_stop_an_address(client: httpx.AsyncClient, org: Org) -> None:
    # Each active person manages their own address only (there is no route naming another's);
    # a deactivated person is refused; without a token, nobody.
    for who in ROLES:
        headers = org.headers(who)
        made = await client.post(FEED, headers=headers)
        seen = await client.get(FEED, headers=headers)
        stopped = await client.delete(FEED, headers=headers)
        if who == "gone":
            for answer in (made, seen, stopped):
                assert_problem(answer, 403)
            continue
        assert (made.status_code, seen.status_code, stopped.status_code) == (201, 200, 204), who
        assert seen.json()["active"] is True
    for method in ("GET", "POST", "DELETE"):
        assert_problem(await client.request(method, FEED), 401)
    # One person's stop leaves another's address working.
    kept = await subscribe(client, org, "manager")
    await subscribe(client, org, "hr")
    assert (await client.delete(FEED, headers=org.headers("hr"))).status_code == 204
    assert (await calendar(client, kept)).status_code == 200


async def _active(client: httpx.AsyncClient, org: Org) -> bool:
    return (await client.get(FEED, headers=org.headers("receiver"))).status_code == 200
