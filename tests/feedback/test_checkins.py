"""1:1 check-ins through the real service and bus: series, occurrences, agenda carried on,
action items, private notes, reminders, the directory's leavers and manager changes, and who
may call each route."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from services.feedback.checkins.events import reminder_event_id
from services.feedback.models import CheckinNote, CheckinSeries, ContentKey, OutboxEvent, Person
from services.feedback.reminders import sweep_once
from shared.events import CloudEvent, stream_name
from shared.settings import Settings
from tests.conftest import TEST_DATABASE_URL, ServiceClientFactory, TokenFactory
from tests.cycles.support import read_stream
from tests.feedback.support import ROLES, Org, ensure_directory_stream, make_org, publish_people
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

STARTED = "meritloop.feedback.checkin.series-started"
ENDED = "meritloop.feedback.checkin.series-ended"
TRANSFERRED = "meritloop.feedback.checkin.series-transferred"
SKIPPED = "meritloop.feedback.checkin.occurrence-skipped"
MOVED = "meritloop.feedback.checkin.occurrence-moved"
ASSIGNED = "meritloop.feedback.checkin.action-assigned"
REMINDER_DUE = "meritloop.feedback.checkin.reminder-due"
OUTSIDERS = ("giver", "skip", "hr", "admin", "colleague")
PARTICIPANTS = ("manager", "receiver")


def next_weekday(weekday: int, hour: int = 10) -> datetime:
    """A naive wall-clock time on the next such weekday, at least a day away."""
    day = date.today() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0)


async def start_series(client: httpx.AsyncClient, org: Org, who: str = "manager", **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "report_id": str(org.receiver.id),
        "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
        "starts_at": next_weekday(1).isoformat(),
    }
    payload.update(body)
    response = await client.post("/checkins/series", json=payload, headers=org.headers(who))
    assert response.status_code == 201, response.text
    series: dict[str, Any] = response.json()
    return series


async def occurrences(client: httpx.AsyncClient, org: Org, series: dict[str, Any], **params: Any) -> list[str]:
    response = await client.get(
        f"/checkins/series/{series['id']}/occurrences", params=params, headers=org.headers("manager")
    )
    assert response.status_code == 200, response.text
    return [entry["recurrence_id"] for entry in response.json()["items"]]


def at(series: dict[str, Any], recurrence_id: str, tail: str = "") -> str:
    return f"/checkins/series/{series['id']}/occurrences/{recurrence_id}{tail}"


async def set_timezone(client: httpx.AsyncClient, org: Org, who: str, zone: str, settings: Settings) -> None:
    person = getattr(org, who).model_copy(update={"timezone": zone, "version": 2})
    await publish_people(settings.nats_url, [person])
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]

    async def projected() -> bool:
        async with sessionmaker() as session:
            found: str | None = await session.scalar(select(Person.timezone).where(Person.id == person.id))
            return found == zone

    await wait_until(projected, message="the time zone reached the projection")


async def test_a_series_every_other_tuesday_in_the_directory_time_zone(
    client: httpx.AsyncClient, org: Org, settings: Settings
) -> None:
    await set_timezone(client, org, "manager", "America/New_York", settings)
    series = await start_series(client, org)
    assert (series["manager_id"], series["report_id"]) == (str(org.manager.id), str(org.receiver.id))
    assert (series["timezone"], series["status"], series["duration_minutes"]) == ("America/New_York", "active", 30)
    event, raw, _ = await published(settings.nats_url, STARTED, series["id"])
    assert event.data == {"id": series["id"], "manager_id": str(org.manager.id), "report_id": str(org.receiver.id)}
    assert b"FREQ" not in raw

    ids = await occurrences(client, org, series, limit=500)
    starts = [datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) for rid in ids]
    assert len(starts) in (6, 7)  # 90 days of every other Tuesday
    zone = ZoneInfo("America/New_York")
    assert {(start.astimezone(zone).weekday(), start.astimezone(zone).hour) for start in starts} == {(1, 10)}
    assert {later - earlier for earlier, later in itertools.pairwise(starts)} <= {
        timedelta(days=14),
        timedelta(days=14, hours=1),
        timedelta(days=14, hours=-1),
    }
    assert series["next_occurrence"]["recurrence_id"] == ids[0]
    page = (
        await client.get(
            f"/checkins/series/{series['id']}/occurrences",
            params={"limit": 2, "offset": 2},
            headers=org.headers("receiver"),
        )
    ).json()
    assert (page["total"], page["limit"], page["offset"]) == (len(ids), 2, 2)
    assert [entry["recurrence_id"] for entry in page["items"]] == ids[2:4]
    listed = (await client.get("/checkins/series", headers=org.headers("receiver"))).json()
    assert [entry["id"] for entry in listed["items"]] == [series["id"]]

    # One active series per pair; the report may set it up too, with an explicit zone.
    assert_problem(
        await client.post(
            "/checkins/series",
            json={
                "report_id": str(org.receiver.id),
                "rrule": "FREQ=WEEKLY",
                "starts_at": next_weekday(2).isoformat(),
            },
            headers=org.headers("receiver"),
        ),
        409,
    )


async def test_agenda_actions_skip_move_and_end(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    series = await start_series(client, org, timezone="Europe/Berlin")
    first, second, third, fourth = (await occurrences(client, org, series))[:4]

    mine = await client.post(
        at(series, first, "/agenda"), json={"text": "Promotion path"}, headers=org.headers("receiver")
    )
    assert mine.status_code == 201, mine.text
    theirs = await client.post(at(series, first, "/agenda"), json={"text": "Q3 goals"}, headers=org.headers("manager"))
    assert theirs.status_code == 201
    agenda = (await client.get(at(series, first, "/agenda"), headers=org.headers("manager"))).json()
    assert [(item["text"], item["author_id"]) for item in agenda["items"]] == [
        ("Promotion path", str(org.receiver.id)),
        ("Q3 goals", str(org.manager.id)),
    ]
    covered = await client.patch(
        f"/checkins/series/{series['id']}/agenda/{theirs.json()['id']}",
        json={"covered": True},
        headers=org.headers("receiver"),
    )
    assert covered.json()["covered"] is True
    # Either may mark covered; only the author rewords.
    assert_problem(
        await client.patch(
            f"/checkins/series/{series['id']}/agenda/{mine.json()['id']}",
            json={"text": "changed"},
            headers=org.headers("manager"),
        ),
        403,
    )

    # Skipping a meeting carries what was not covered to the next one; the covered point stays.
    skipped = await client.post(at(series, first, "/skip"), headers=org.headers("receiver"))
    assert skipped.json()["status"] == "skipped"
    event, _, _ = await published(settings.nats_url, SKIPPED, skipped_id(series, first))
    assert event.data["recurrence_id"] == first
    assert_problem(await client.post(at(series, first, "/skip"), headers=org.headers("manager")), 409)
    carried = (await client.get(at(series, second, "/agenda"), headers=org.headers("receiver"))).json()
    assert [(item["text"], item["carry_count"], item["added_for"]) for item in carried["items"]] == [
        ("Promotion path", 1, first)
    ]
    left = (await client.get(at(series, first, "/agenda"), headers=org.headers("receiver"))).json()
    assert [item["text"] for item in left["items"]] == ["Q3 goals"]
    assert_problem(
        await client.post(at(series, first, "/agenda"), json={"text": "x"}, headers=org.headers("manager")), 409
    )
    upcoming = (await client.get(f"/checkins/series/{series['id']}", headers=org.headers("manager"))).json()
    assert upcoming["next_occurrence"]["recurrence_id"] == second

    # Moving one occurrence: a day later is fine, past the next one is not.
    original = datetime.strptime(third, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    moved = await client.post(
        at(series, third, "/move"),
        json={"starts_at": (original + timedelta(days=1)).isoformat()},
        headers=org.headers("manager"),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "moved"
    assert datetime.fromisoformat(moved.json()["starts_at"]) == original + timedelta(days=1)
    await published(settings.nats_url, MOVED, skipped_id(series, third))
    too_far = await client.post(
        at(series, third, "/move"),
        json={"starts_at": (original + timedelta(days=15)).isoformat()},
        headers=org.headers("manager"),
    )
    assert problem_fields(too_far) == {"starts_at"}
    listed = (await client.get(f"/checkins/series/{series['id']}/occurrences", headers=org.headers("manager"))).json()[
        "items"
    ]
    assert {entry["recurrence_id"]: entry["status"] for entry in listed}[third] == "moved"

    # Action items: owned by one of the two, with a due date; done or not.
    due = (date.today() + timedelta(days=10)).isoformat()
    action = await client.post(
        at(series, second, "/action-items"),
        json={"title": "Draft the promotion case", "owner_id": str(org.receiver.id), "due_on": due},
        headers=org.headers("manager"),
    )
    assert action.status_code == 201, action.text
    assert (action.json()["owner_id"], action.json()["due_on"], action.json()["done"]) == (
        str(org.receiver.id),
        due,
        False,
    )
    event, raw, _ = await published(settings.nats_url, ASSIGNED, action.json()["id"])
    assert event.data == {"id": action.json()["id"], "series_id": series["id"], "owner_id": str(org.receiver.id)}
    assert b"promotion" not in raw
    done = await client.patch(
        f"/checkins/series/{series['id']}/action-items/{action.json()['id']}",
        json={"done": True},
        headers=org.headers("receiver"),
    )
    assert done.json()["done"] is True
    open_items = (
        await client.get(
            f"/checkins/series/{series['id']}/action-items", params={"done": False}, headers=org.headers("manager")
        )
    ).json()
    assert open_items["total"] == 0

    # The calendar file: the skipped meeting left out, the moved one at its new time.
    def berlin(recurrence_id: str, shift: timedelta = timedelta(0)) -> str:
        moment = datetime.strptime(recurrence_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) + shift
        return moment.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y%m%dT%H%M%S")

    ics = await client.get(f"/checkins/series/{series['id']}/calendar", headers=org.headers("receiver"))
    assert ics.status_code == 200, ics.text
    assert ics.headers["content-disposition"] == f'attachment; filename="checkin-{series["id"]}.ics"'
    lines = ics.text.replace("\r\n ", "").split("\r\n")
    assert f"EXDATE;TZID=Europe/Berlin:{berlin(first)}" in lines
    assert f"RECURRENCE-ID;TZID=Europe/Berlin:{berlin(third)}" in lines
    assert f"DTSTART;TZID=Europe/Berlin:{berlin(third, timedelta(days=1))}" in lines
    assert "Promotion path" not in ics.text

    # Ending: reads still work, writes are refused.
    ended = await client.post(f"/checkins/series/{series['id']}/end", headers=org.headers("receiver"))
    assert (ended.json()["status"], ended.json()["end_reason"], ended.json()["next_occurrence"]) == (
        "ended",
        "ended",
        None,
    )
    event, _, _ = await published(settings.nats_url, ENDED, series["id"])
    assert event.data["reason"] == "ended"
    assert_problem(await client.post(f"/checkins/series/{series['id']}/end", headers=org.headers("manager")), 409)
    assert_problem(
        await client.post(at(series, fourth, "/agenda"), json={"text": "x"}, headers=org.headers("manager")), 409
    )
    assert_problem(await client.post(at(series, fourth, "/skip"), headers=org.headers("manager")), 409)
    assert (await client.get(f"/checkins/series/{series['id']}/occurrences", headers=org.headers("manager"))).json()[
        "total"
    ] == 0
    # Ended before its first meeting took place: the calendar's event is cancelled.
    after = (await client.get(f"/checkins/series/{series['id']}/calendar", headers=org.headers("manager"))).text
    assert "STATUS:CANCELLED" in after.split("\r\n")
    # A new series between the same two may start once the old one ended.
    await start_series(client, org)


def skipped_id(series: dict[str, Any], recurrence_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(series["id"]), f"checkin-occurrence:{recurrence_id}"))


async def test_talking_points_not_covered_move_to_the_next_meeting(client: httpx.AsyncClient, org: Org) -> None:
    # A daily meeting that ends a few seconds from now: time enough for a busy machine to add its
    # points (four seconds were not, in a clean-clone CI run).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5) + timedelta(seconds=10)
    series = await start_series(
        client, org, rrule="FREQ=DAILY", starts_at=start.isoformat(), duration_minutes=5, timezone="UTC"
    )
    current, following = (
        await occurrences(client, org, series, **{"from": (start - timedelta(seconds=1)).isoformat()})
    )[:2]
    open_point = await client.post(
        at(series, current, "/agenda"), json={"text": "Hiring plan"}, headers=org.headers("manager")
    )
    done_point = await client.post(
        at(series, current, "/agenda"), json={"text": "Offsite"}, headers=org.headers("receiver")
    )
    await client.patch(
        f"/checkins/series/{series['id']}/agenda/{done_point.json()['id']}",
        json={"covered": True},
        headers=org.headers("manager"),
    )

    async def carried() -> list[dict[str, Any]] | None:
        items = (await client.get(at(series, following, "/agenda"), headers=org.headers("receiver"))).json()["items"]
        return items or None

    items = await wait_until(carried, timeout=30.0, message="the open point moved on")
    assert [(item["id"], item["carry_count"], item["added_for"]) for item in items] == [
        (open_point.json()["id"], 1, current)
    ]
    stayed = (await client.get(at(series, current, "/agenda"), headers=org.headers("manager"))).json()["items"]
    assert [item["text"] for item in stayed] == ["Offsite"]
    # The meeting is over: nothing more is added to it, and it cannot be skipped any more.
    assert_problem(
        await client.post(at(series, current, "/agenda"), json={"text": "late"}, headers=org.headers("manager")), 409
    )
    assert_problem(await client.post(at(series, current, "/skip"), headers=org.headers("manager")), 409)


async def test_bad_input_names_the_field(client: httpx.AsyncClient, org: Org) -> None:
    headers = org.headers("manager")

    async def fields(**body: Any) -> set[str]:
        payload = {"report_id": str(org.receiver.id), "rrule": "FREQ=WEEKLY", "starts_at": next_weekday(3).isoformat()}
        payload.update(body)
        return problem_fields(await client.post("/checkins/series", json=payload, headers=headers))

    assert await fields(rrule="FREQ=SOMETIMES") == {"rrule"}
    assert await fields(rrule="FREQ=MINUTELY") == {"rrule"}
    assert await fields(rrule="FREQ=WEEKLY;COUNT=1", starts_at="2020-01-07T10:00:00") == {"starts_at"}
    assert await fields(timezone="Europe/Atlantis") == {"timezone"}
    assert await fields(report_id=str(org.gone.id)) == {"report_id"}
    assert await fields(report_id=str(uuid.uuid4())) == {"report_id"}
    assert await fields(starts_at="next tuesday") == {"starts_at"}
    assert await fields(duration_minutes=0) == {"duration_minutes"}
    # A start no calendar file could be built for (it made both people's feeds a 500 for good).
    assert await fields(starts_at="9996-01-06T10:00:00Z") == {"starts_at"}
    assert await fields(starts_at=(datetime.now(UTC) + timedelta(days=800)).isoformat()) == {"starts_at"}
    series = await start_series(client, org)
    first = (await occurrences(client, org, series))[0]
    assert problem_fields(await client.post(at(series, "tuesday", "/skip"), headers=headers)) == {"recurrence_id"}
    assert_problem(await client.post(at(series, "20200107T100000Z", "/skip"), headers=headers), 404)
    assert problem_fields(await client.post(at(series, first, "/agenda"), json={"text": " "}, headers=headers)) == {
        "text"
    }
    assert problem_fields(
        await client.post(
            at(series, first, "/action-items"), json={"title": "x", "owner_id": str(org.skip.id)}, headers=headers
        )
    ) == {"owner_id"}
    assert problem_fields(
        await client.post(
            at(series, first, "/action-items"),
            json={"title": "x", "owner_id": str(org.manager.id), "due_on": "2020-01-01"},
            headers=headers,
        )
    ) == {"due_on"}
    assert problem_fields(
        await client.post(at(series, first, "/move"), json={"starts_at": "2020-01-01T10:00:00"}, headers=headers)
    ) == {"starts_at"}
    window = await client.get(
        f"/checkins/series/{series['id']}/occurrences",
        params={"from": "2027-01-01T00:00:00Z", "to": "2028-06-01T00:00:00Z"},
        headers=headers,
    )
    assert problem_fields(window) == {"to"}
    # Nothing of that was written.
    assert (await client.get("/checkins/series", headers=headers)).json()["total"] == 1


async def test_private_notes_are_readable_by_their_author_alone(
    client: httpx.AsyncClient, org: Org, settings: Settings
) -> None:
    series = await start_series(client, org)
    first = (await occurrences(client, org, series))[0]
    marker = uuid.uuid4().hex
    texts = {
        "manager": f"manager-note-{marker} worried about burnout",
        "receiver": f"report-note-{marker} ask for raise",
    }
    for who, text in texts.items():
        note = await client.post(at(series, first, "/notes"), json={"text": text}, headers=org.headers(who))
        assert note.status_code == 201, note.text
        assert note.json()["text"] == text
    for who in ROLES:
        response = await client.get(f"/checkins/series/{series['id']}/notes", headers=org.headers(who))
        if who in PARTICIPANTS:
            assert [item["text"] for item in response.json()["items"]] == [texts[who]]
        else:
            assert_problem(response, 403 if who == "gone" else 404)
        if who in PARTICIPANTS:
            other = texts["receiver" if who == "manager" else "manager"]
            assert other not in response.text, who
        else:
            assert marker not in response.text, who
    # Not in clear in the database: the SQLite file (and its write-ahead log) holds only ciphertext.
    if TEST_DATABASE_URL is None:
        shared = f"shared-{marker}"
        point = await client.post(at(series, first, "/agenda"), json={"text": shared}, headers=org.headers("manager"))
        action = await client.post(
            at(series, first, "/action-items"),
            json={"title": shared + " action", "owner_id": str(org.receiver.id)},
            headers=org.headers("receiver"),
        )
        assert (point.json()["text"], action.json()["title"]) == (shared, shared + " action")
        reread = (await client.get(at(series, first, "/agenda"), headers=org.headers("receiver"))).json()
        assert [item["text"] for item in reread["items"]] == [shared]
        database = Path(make_url(settings.database_url("feedback")).database or "")
        raw = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
        assert str(org.receiver.id).encode() in raw or org.receiver.id.bytes in raw, "the scan must read the rows"
        assert marker.encode() not in raw
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        stored = list(await session.execute(select(CheckinNote.id, CheckinNote.author_id, CheckinNote.ciphertext)))
        # Each note's content key is wrapped for its author and nobody else.
        for note_id, author_id, blob in stored:
            readers = set(await session.scalars(select(ContentKey.reader_id).where(ContentKey.object_id == note_id)))
            assert readers == {author_id}
            assert marker.encode() not in blob
    assert len(stored) == 2
    # Erasing the author's keys makes their note unreadable, even to them.
    erased = await client.post(f"/feedback-privacy/erasures/{org.receiver.id}", headers=org.headers("hr"))
    assert erased.status_code == 204
    notes = (await client.get(f"/checkins/series/{series['id']}/notes", headers=org.headers("receiver"))).json()
    assert [item["text"] for item in notes["items"]] == [None]
    assert_problem(
        await client.post(at(series, first, "/notes"), json={"text": "again"}, headers=org.headers("receiver")), 409
    )
    managers = (await client.get(f"/checkins/series/{series['id']}/notes", headers=org.headers("manager"))).json()
    assert [item["text"] for item in managers["items"]] == [texts["manager"]]


async def test_who_can_call_each_route(client: httpx.AsyncClient, org: Org) -> None:
    """manager and receiver hold a series; everyone tries every route on it."""
    series = await start_series(client, org, rrule="FREQ=WEEKLY")
    ids = await occurrences(client, org, series)
    assert len(ids) > len(ROLES)
    secret = f"agenda-{uuid.uuid4().hex}"
    point = await client.post(at(series, ids[0], "/agenda"), json={"text": secret}, headers=org.headers("receiver"))
    action = await client.post(
        at(series, ids[0], "/action-items"),
        json={"title": secret, "owner_id": str(org.manager.id)},
        headers=org.headers("receiver"),
    )
    base = f"/checkins/series/{series['id']}"
    for number, who in enumerate(ROLES):
        headers = org.headers(who)
        occurrence = ids[1 + number]
        create = await client.post(
            "/checkins/series",
            json={"report_id": str(org.receiver.id), "rrule": "FREQ=WEEKLY", "starts_at": next_weekday(4).isoformat()},
            headers=headers,
        )
        listed = await client.get("/checkins/series", headers=headers)
        reads = [
            await client.get(base, headers=headers),
            await client.get(base + "/occurrences", headers=headers),
            await client.get(at(series, ids[0], "/agenda"), headers=headers),
            await client.get(base + "/action-items", headers=headers),
            await client.get(base + "/notes", headers=headers),
            await client.get(base + "/calendar", headers=headers),
        ]
        writes = [
            await client.post(at(series, occurrence, "/agenda"), json={"text": "mine"}, headers=headers),
            await client.patch(f"{base}/agenda/{point.json()['id']}", json={"covered": True}, headers=headers),
            await client.post(
                at(series, occurrence, "/action-items"),
                json={"title": "t", "owner_id": str(org.manager.id)},
                headers=headers,
            ),
            await client.patch(f"{base}/action-items/{action.json()['id']}", json={"done": False}, headers=headers),
            await client.post(at(series, occurrence, "/notes"), json={"text": "private"}, headers=headers),
            await client.post(at(series, occurrence, "/skip"), headers=headers),
        ]
        if who == "gone":
            for response in [create, listed, *reads, *writes]:
                assert_problem(response, 403)
            continue
        if who in PARTICIPANTS:
            assert_problem(create, 409)  # they hold one already
            assert [entry["id"] for entry in listed.json()["items"]] == [series["id"]]
            assert all(response.status_code == 200 for response in reads), who
            assert secret in reads[2].text
            assert secret in reads[3].text
            # The calendar file carries the meetings, never what is said in them.
            assert reads[-1].headers["content-type"] == "text/calendar; charset=utf-8"
            assert secret not in reads[-1].text
            assert [response.status_code for response in writes] == [201, 200, 201, 200, 201, 200], who
            continue
        assert_problem(create, 403)
        assert listed.json()["total"] == 0, who
        for response in [*reads, *writes]:
            assert_problem(response, 404)
            assert secret not in response.text
    for who in (*OUTSIDERS, "gone"):
        moved = await client.post(
            at(series, ids[-1], "/move"), json={"starts_at": "2030-01-01T10:00:00Z"}, headers=org.headers(who)
        )
        ended = await client.post(base + "/end", headers=org.headers(who))
        assert_problem(moved, 403 if who == "gone" else 404)
        assert_problem(ended, 403 if who == "gone" else 404)
    assert (await client.get(base, headers=org.headers("manager"))).json()["status"] == "active"


async def test_reminders_are_published_once_before_a_meeting(
    service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory
) -> None:
    settings.feedback_reminder_interval = 0.2
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        org = await make_org(settings.nats_url, client, auth)
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
        series = await start_series(
            client, org, rrule="FREQ=WEEKLY", starts_at=soon.isoformat(), reminder_minutes=60, timezone="UTC"
        )
        rid = soon.strftime("%Y%m%dT%H%M%SZ")

        async def reminders() -> list[CloudEvent] | None:
            found = [e for e in await read_stream(settings, stream_name("feedback")) if e.type == REMINDER_DUE]
            return found or None

        (event,) = await wait_until(reminders, message="the reminder is on the bus")
        assert event.id == reminder_event_id(uuid.UUID(series["id"]), rid, soon)
        assert event.data == {
            "id": str(event.id),
            "series_id": series["id"],
            "occurrence_id": skipped_id(series, rid),
            "recurrence_id": rid,
            "manager_id": str(org.manager.id),
            "report_id": str(org.receiver.id),
            "starts_at": soon.isoformat().replace("+00:00", "Z"),
        }
        sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
        # More sweeps publish nothing more; the series now waits for next week's meeting.
        for _ in range(3):
            assert await sweep_once(sessionmaker, settings) == 0
        await asyncio.sleep(0.5)
        async with sessionmaker() as session:
            count = await session.scalar(select(func.count()).where(OutboxEvent.subject == REMINDER_DUE))
            row = await session.get(CheckinSeries, uuid.UUID(series["id"]))
        assert count == 1
        assert row is not None
        assert row.remind_start == soon + timedelta(days=7)
        # A skipped meeting is not reminded.
        skipped = await client.post(
            at(series, (soon + timedelta(days=7)).strftime("%Y%m%dT%H%M%SZ"), "/skip"), headers=org.headers("manager")
        )
        assert skipped.status_code == 200
        async with sessionmaker() as session:
            row = await session.get(CheckinSeries, uuid.UUID(series["id"]))
        assert row is not None
        assert row.remind_start == soon + timedelta(days=14)
        # Moving the reminded meeting reminds again, for the new time, under a new event id.
        new_time = soon + timedelta(minutes=10)
        moved = await client.post(
            at(series, rid, "/move"), json={"starts_at": new_time.isoformat()}, headers=org.headers("receiver")
        )
        assert moved.status_code == 200, moved.text

        async def second_reminder() -> list[CloudEvent] | None:
            found = [e for e in await read_stream(settings, stream_name("feedback")) if e.type == REMINDER_DUE]
            return found if len(found) == 2 else None

        again = (await wait_until(second_reminder, message="a reminder for the new time"))[1]
        assert again.id == reminder_event_id(uuid.UUID(series["id"]), rid, new_time)
        assert datetime.fromisoformat(again.data["starts_at"]) == new_time


async def test_series_follow_the_directory(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    series = await start_series(client, org)
    first = (await occurrences(client, org, series))[0]
    note = await client.post(
        at(series, first, "/notes"), json={"text": "old manager's note"}, headers=org.headers("manager")
    )
    assert note.status_code == 201
    point = await client.post(at(series, first, "/agenda"), json={"text": "Team move"}, headers=org.headers("manager"))
    assert point.status_code == 201
    base = f"/checkins/series/{series['id']}"
    action = await client.post(
        at(series, first, "/action-items"),
        json={"title": "Book the offsite", "owner_id": str(org.manager.id)},
        headers=org.headers("manager"),
    )
    assert action.status_code == 201, action.text
    item = f"{base}/action-items/{action.json()['id']}"

    # The report moves to the skip-level: the series passes to them.
    moved = org.receiver.model_copy(update={"manager_id": org.skip.id, "version": 2})
    await publish_people(settings.nats_url, [moved])
    event, _, _ = await published(settings.nats_url, TRANSFERRED, series["id"])
    assert event.data == {
        "id": series["id"],
        "manager_id": str(org.skip.id),
        "report_id": str(org.receiver.id),
        "previous_manager_id": str(org.manager.id),
    }
    now = (await client.get(base, headers=org.headers("skip"))).json()
    assert (now["manager_id"], now["status"]) == (str(org.skip.id), "active")
    assert_problem(await client.get(base, headers=org.headers("manager")), 404)
    # The previous manager keeps their own notes; the new one does not get them.
    old_notes = (await client.get(base + "/notes", headers=org.headers("manager"))).json()
    assert [item["text"] for item in old_notes["items"]] == ["old manager's note"]
    assert (await client.get(base + "/notes", headers=org.headers("skip"))).json()["total"] == 0
    # The shared agenda goes with the series: the new manager reads it, the previous holds no key to it.
    agenda = (await client.get(at(series, first, "/agenda"), headers=org.headers("skip"))).json()
    assert [(item["text"], item["author_id"]) for item in agenda["items"]] == [("Team move", str(org.manager.id))]
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        readers = set(
            await session.scalars(
                select(ContentKey.reader_id).where(ContentKey.object_id == uuid.UUID(point.json()["id"]))
            )
        )
    assert readers == {org.receiver.id, org.skip.id}
    # The previous manager's open action item stays theirs until one of the two hands it on.
    items = (await client.get(base + "/action-items", headers=org.headers("skip"))).json()["items"]
    assert [(entry["title"], entry["owner_id"]) for entry in items] == [("Book the offsite", str(org.manager.id))]
    refused = await client.patch(item, json={"owner_id": str(org.colleague.id)}, headers=org.headers("skip"))
    assert problem_fields(refused) == {"owner_id"}
    assert_problem(await client.patch(item, json={"owner_id": str(org.skip.id)}, headers=org.headers("manager")), 404)
    handed = await client.patch(item, json={"owner_id": str(org.skip.id)}, headers=org.headers("receiver"))
    assert handed.status_code == 200, handed.text
    assert (handed.json()["owner_id"], handed.json()["title"]) == (str(org.skip.id), "Book the offsite")
    # The item's first owner was told on the same subject; wait for the hand-over's event.
    event, raw, _ = await published(
        settings.nats_url, ASSIGNED, action.json()["id"], where=lambda e: e.data["owner_id"] != str(org.manager.id)
    )
    assert event.data == {"id": action.json()["id"], "series_id": series["id"], "owner_id": str(org.skip.id)}
    assert b"offsite" not in raw
    again = await client.patch(item, json={"owner_id": str(org.receiver.id)}, headers=org.headers("skip"))
    assert again.json()["owner_id"] == str(org.receiver.id)
    back = await client.patch(item, json={"owner_id": str(org.manager.id)}, headers=org.headers("skip"))
    assert problem_fields(back) == {"owner_id"}  # the previous manager is no participant any more

    # A late, older event naming the old manager changes nothing.
    await publish_people(settings.nats_url, [org.receiver])
    await asyncio.sleep(1.0)
    assert (await client.get(base, headers=org.headers("skip"))).json()["manager_id"] == str(org.skip.id)

    # The report leaves: the series ends.
    gone = org.receiver.model_copy(update={"manager_id": org.skip.id, "version": 3, "active": False})
    await publish_people(settings.nats_url, [gone])
    event, _, _ = await published(settings.nats_url, ENDED, series["id"])
    assert event.data["reason"] == "person-left"
    ended = (await client.get(base, headers=org.headers("skip"))).json()
    assert (ended["status"], ended["end_reason"]) == ("ended", "person-left")


async def test_a_manager_who_leaves_ends_the_series(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    series = await start_series(client, org)
    await publish_people(settings.nats_url, [org.manager.model_copy(update={"version": 2, "active": False})])
    event, _, _ = await published(settings.nats_url, ENDED, series["id"])
    assert (event.data["reason"], event.data["manager_id"]) == ("person-left", str(org.manager.id))
    ended = (await client.get(f"/checkins/series/{series['id']}", headers=org.headers("receiver"))).json()
    assert ended["status"] == "ended"


async def test_two_racing_starts_make_one_series(client: httpx.AsyncClient, org: Org) -> None:
    body = {"report_id": str(org.receiver.id), "rrule": "FREQ=WEEKLY", "starts_at": next_weekday(0).isoformat()}
    answers = await asyncio.gather(
        client.post("/checkins/series", json=body, headers=org.headers("manager")),
        client.post("/checkins/series", json=body, headers=org.headers("receiver")),
    )
    assert sorted(response.status_code for response in answers) == [201, 409]
    listed = (await client.get("/checkins/series", headers=org.headers("manager"))).json()
    assert listed["total"] == 1


async def test_a_report_left_without_a_manager_ends_the_series(
    client: httpx.AsyncClient, org: Org, settings: Settings
) -> None:
    series = await start_series(client, org)
    await publish_people(settings.nats_url, [org.receiver.model_copy(update={"version": 2, "manager_id": None})])
    event, _, _ = await published(settings.nats_url, ENDED, series["id"])
    assert event.data["reason"] == "no-manager"
    ended = (await client.get(f"/checkins/series/{series['id']}", headers=org.headers("receiver"))).json()
    assert (ended["status"], ended["manager_id"]) == ("ended", str(org.manager.id))
