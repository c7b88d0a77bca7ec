"""1:1 agenda templates through the real service and bus: HR keeps them (names unique in any case, 1-10
distinct prompts), everyone signed in reads them, either participant chooses one for a series (or none),
and every meeting's agenda shows the chosen template's prompts as they are now, archived or not."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.feedback.models import OutboxEvent
from tests.feedback.support import ROLES, Org
from tests.feedback.test_checkins import PARTICIPANTS, at, next_weekday, occurrences, start_series
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

TEMPLATES = "/checkins/agenda-templates"
HR = ("hr", "admin")


async def add_template(client: httpx.AsyncClient, org: Org, name: str, prompts: list[str]) -> dict[str, Any]:
    response = await client.post(TEMPLATES, json={"name": name, "prompts": prompts}, headers=org.headers("hr"))
    assert response.status_code == 201, response.text
    template: dict[str, Any] = response.json()
    return template


async def prompts_of(client: httpx.AsyncClient, org: Org, series: dict[str, Any], recurrence_id: str) -> list[str]:
    response = await client.get(at(series, recurrence_id, "/agenda"), headers=org.headers("receiver"))
    assert response.status_code == 200, response.text
    prompts: list[str] = response.json()["prompts"]
    return prompts


async def listed(client: httpx.AsyncClient, org: Org, **params: Any) -> dict[str, Any]:
    response = await client.get(TEMPLATES, params=params, headers=org.headers("colleague"))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_hr_keeps_the_templates(client: httpx.AsyncClient, org: Org) -> None:
    created = await client.post(
        TEMPLATES,
        json={"name": "  Weekly  ", "prompts": [" Wins since last time ", "Blockers", "Growth"]},
        headers=org.headers("hr"),
    )
    assert created.status_code == 201, created.text
    weekly = created.json()
    assert (weekly["name"], weekly["prompts"], weekly["archived"]) == (
        "Weekly",
        ["Wins since last time", "Blockers", "Growth"],
        False,
    )
    assert_problem(
        await client.post(TEMPLATES, json={"name": "WEEKLY", "prompts": ["x"]}, headers=org.headers("admin")), 409
    )

    # Each refusal names its field, a prompt by its position; nothing of it is stored.
    async def refused(**body: Any) -> set[str]:
        return problem_fields(await client.post(TEMPLATES, json={"name": "New", **body}, headers=org.headers("hr")))

    assert await refused(prompts=["x"], name=" ") == {"name"}
    assert await refused(prompts=["x"], name="n" * 101) == {"name"}
    assert await refused() == {"prompts"}
    assert await refused(prompts=[]) == {"prompts"}
    assert await refused(prompts=[f"Prompt {n}" for n in range(11)]) == {"prompts"}
    assert await refused(prompts=["Fine", "   "]) == {"prompts.1"}
    assert await refused(prompts=["Fine", "Also fine", "p" * 201]) == {"prompts.2"}
    assert await refused(prompts=["Wins", "Blockers", "Growth", "wins "]) == {"prompts.3"}
    assert (await listed(client, org, include_archived=True))["total"] == 1
    # Ten prompts of 200 characters each are fine.
    await add_template(client, org, "n" * 100, [f"{n}" * 200 for n in range(10)])

    for name, prompts in (("Career", ["Where next?"]), ("Another", ["Anything else?"])):
        await add_template(client, org, name, prompts)
    base = f"{TEMPLATES}/{weekly['id']}"
    renamed = await client.patch(
        base, json={"name": "Weekly sync", "prompts": ["Wins", "Blockers"]}, headers=org.headers("admin")
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["prompts"], renamed.json()["modified_at"] is not None) == (
        "Weekly sync",
        ["Wins", "Blockers"],
        True,
    )
    assert_problem(await client.patch(base, json={"name": "career"}, headers=org.headers("hr")), 409)
    assert problem_fields(await client.patch(base, json={"prompts": ["A", "B", "a"]}, headers=org.headers("hr"))) == {
        "prompts.2"
    }
    assert problem_fields(await client.patch(base, json={"prompts": []}, headers=org.headers("hr"))) == {"prompts"}
    assert problem_fields(await client.patch(base, json={"name": ""}, headers=org.headers("hr"))) == {"name"}
    assert_problem(await client.patch(f"{TEMPLATES}/{uuid.uuid4()}", json={}, headers=org.headers("hr")), 404)
    unchanged = (await client.get(base, headers=org.headers("giver"))).json()
    assert (unchanged["name"], unchanged["prompts"]) == ("Weekly sync", ["Wins", "Blockers"])

    # By name, paginated; archived ones only when asked for.
    page = await listed(client, org, limit=2)
    assert (page["total"], [entry["name"] for entry in page["items"]]) == (4, ["Another", "Career"])
    assert (await client.delete(base, headers=org.headers("hr"))).status_code == 204
    assert [entry["name"] for entry in (await listed(client, org))["items"]] == ["Another", "Career", "n" * 100]
    assert (await listed(client, org, include_archived=True))["total"] == 4
    assert (await client.get(base, headers=org.headers("colleague"))).json()["archived"] is True
    restored = await client.patch(base, json={"archived": False}, headers=org.headers("hr"))
    assert restored.json()["archived"] is False
    assert (await listed(client, org))["total"] == 4
    assert_problem(await client.delete(f"{TEMPLATES}/{uuid.uuid4()}", headers=org.headers("hr")), 404)
    assert_problem(await client.get(f"{TEMPLATES}/{uuid.uuid4()}", headers=org.headers("hr")), 404)


@pytest.mark.parametrize("second", ["Quarterly", "QUARTERLY"])
async def test_two_racing_adds_of_one_name_make_one_template(client: httpx.AsyncClient, org: Org, second: str) -> None:
    answers = await asyncio.gather(
        client.post(TEMPLATES, json={"name": "Quarterly", "prompts": ["Goals"]}, headers=org.headers("hr")),
        client.post(TEMPLATES, json={"name": second, "prompts": ["Goals"]}, headers=org.headers("admin")),
    )
    assert sorted(response.status_code for response in answers) == [201, 409]
    assert (await listed(client, org))["total"] == 1


async def test_every_meeting_shows_the_templates_prompts(client: httpx.AsyncClient, org: Org) -> None:
    marker = uuid.uuid4().hex
    weekly = await add_template(client, org, "Weekly", [f"Wins {marker}", "Blockers"])
    career = await add_template(client, org, "Career", ["Where next?"])
    series = await start_series(client, org, agenda_template_id=weekly["id"])
    assert series["agenda_template_id"] == weekly["id"]
    first, second, third, *_ = await occurrences(client, org, series)
    point = await client.post(at(series, first, "/agenda"), json={"text": "Hiring"}, headers=org.headers("manager"))
    assert point.status_code == 201, point.text
    agenda = (await client.get(at(series, first, "/agenda"), headers=org.headers("manager"))).json()
    assert (agenda["prompts"], [item["text"] for item in agenda["items"]]) == (
        [f"Wins {marker}", "Blockers"],
        ["Hiring"],
    )
    for meeting in (second, third):
        assert await prompts_of(client, org, series, meeting) == [f"Wins {marker}", "Blockers"]
    # On every page of an agenda: they are the series', not stored with the talking points.
    later = await client.get(at(series, first, "/agenda"), params={"offset": 5}, headers=org.headers("receiver"))
    assert (later.json()["items"], later.json()["prompts"]) == ([], [f"Wins {marker}", "Blockers"])

    # HR's changes show at once; an archived template keeps showing for the series that use it.
    changed = await client.patch(
        f"{TEMPLATES}/{weekly['id']}", json={"prompts": ["Wins", "Energy"]}, headers=org.headers("hr")
    )
    assert changed.status_code == 200, changed.text
    assert await prompts_of(client, org, series, second) == ["Wins", "Energy"]
    assert (await client.delete(f"{TEMPLATES}/{weekly['id']}", headers=org.headers("hr"))).status_code == 204
    assert await prompts_of(client, org, series, second) == ["Wins", "Energy"]
    base = f"/checkins/series/{series['id']}"
    # Keeping the archived template is no new choice of it; choosing it anew is refused.
    kept = await client.patch(base, json={"agenda_template_id": weekly["id"]}, headers=org.headers("receiver"))
    assert kept.status_code == 200, kept.text
    assert kept.json()["agenda_template_id"] == weekly["id"]

    # Either participant chooses another, or none.
    chosen = await client.patch(base, json={"agenda_template_id": career["id"]}, headers=org.headers("receiver"))
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["agenda_template_id"] == career["id"]
    assert await prompts_of(client, org, series, first) == ["Where next?"]
    assert problem_fields(
        await client.patch(base, json={"agenda_template_id": weekly["id"]}, headers=org.headers("manager"))
    ) == {"agenda_template_id"}
    assert problem_fields(
        await client.patch(base, json={"agenda_template_id": str(uuid.uuid4())}, headers=org.headers("manager"))
    ) == {"agenda_template_id"}
    assert problem_fields(
        await client.patch(base, json={"agenda_template_id": "weekly"}, headers=org.headers("manager"))
    ) == {"agenda_template_id"}
    assert (await client.get(base, headers=org.headers("manager"))).json()["agenda_template_id"] == career["id"]
    # Leaving the field out changes nothing.
    assert (await client.patch(base, json={}, headers=org.headers("manager"))).json()["agenda_template_id"] == career[
        "id"
    ]
    cleared = await client.patch(base, json={"agenda_template_id": None}, headers=org.headers("manager"))
    assert cleared.json()["agenda_template_id"] is None
    assert await prompts_of(client, org, series, first) == []

    # An ended series keeps its choice and refuses another.
    again = await client.patch(base, json={"agenda_template_id": career["id"]}, headers=org.headers("manager"))
    assert again.status_code == 200
    assert (await client.post(f"{base}/end", headers=org.headers("manager"))).status_code == 200
    assert_problem(await client.patch(base, json={"agenda_template_id": None}, headers=org.headers("receiver")), 409)
    assert (await client.get(base, headers=org.headers("receiver"))).json()["agenda_template_id"] == career["id"]

    # Nothing of a prompt goes onto the bus.
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        payloads = list(await session.scalars(select(OutboxEvent.payload)))
    assert payloads
    assert all(marker not in payload for payload in payloads)


async def test_a_series_starts_with_a_current_template_only(client: httpx.AsyncClient, org: Org) -> None:
    archived = await add_template(client, org, "Old", ["Anything?"])
    assert (await client.delete(f"{TEMPLATES}/{archived['id']}", headers=org.headers("hr"))).status_code == 204
    for template_id in (archived["id"], str(uuid.uuid4())):
        body = {
            "report_id": str(org.receiver.id),
            "rrule": "FREQ=WEEKLY",
            "starts_at": next_weekday(2).isoformat(),
            "agenda_template_id": template_id,
        }
        response = await client.post("/checkins/series", json=body, headers=org.headers("manager"))
        assert problem_fields(response) == {"agenda_template_id"}
    assert (await client.get("/checkins/series", headers=org.headers("manager"))).json()["total"] == 0
    # Without one, the series has none and its agendas no prompts.
    series = await start_series(client, org)
    assert series["agenda_template_id"] is None
    assert await prompts_of(client, org, series, (await occurrences(client, org, series))[0]) == []


async def test_who_can_call_each_template_route(client: httpx.AsyncClient, org: Org) -> None:
    """HR and admins write the templates, everyone active reads them; only the series' two people choose
    one for it and read its prompts on the agenda."""
    secret = f"prompt-{uuid.uuid4().hex}"
    template = await add_template(client, org, "Shared", [secret])
    other = await add_template(client, org, "Other", ["Else"])
    series = await start_series(client, org, rrule="FREQ=WEEKLY", agenda_template_id=template["id"])
    first = (await occurrences(client, org, series))[0]
    base = f"/checkins/series/{series['id']}"
    for who in ROLES:
        headers = org.headers(who)
        reads = [
            await client.get(TEMPLATES, headers=headers),
            await client.get(f"{TEMPLATES}/{template['id']}", headers=headers),
        ]
        writes = [
            await client.post(TEMPLATES, json={"name": f"By {who}", "prompts": ["Mine"]}, headers=headers),
            await client.patch(f"{TEMPLATES}/{other['id']}", json={"name": f"Renamed by {who}"}, headers=headers),
            await client.delete(f"{TEMPLATES}/{other['id']}", headers=headers),
            await client.patch(f"{TEMPLATES}/{other['id']}", json={"archived": False}, headers=headers),
        ]
        agenda = await client.get(at(series, first, "/agenda"), headers=headers)
        choose = await client.patch(base, json={"agenda_template_id": template["id"]}, headers=headers)
        if who == "gone":  # deactivated: nothing at all
            for response in [*reads, *writes, agenda, choose]:
                assert_problem(response, 403)
            continue
        assert [response.status_code for response in reads] == [200, 200], who
        assert secret in reads[1].text
        if who in HR:
            assert [response.status_code for response in writes] == [201, 200, 204, 200], who
        else:
            for response in writes:
                assert_problem(response, 403)
        if who in PARTICIPANTS:
            assert agenda.json()["prompts"] == [secret], who
            assert choose.status_code == 200, who
        else:
            # HR wrote the prompts, yet the series is the two people's: the same 404 as for no series.
            for response in (agenda, choose):
                assert_problem(response, 404)
                assert secret not in response.text
    names = {entry["name"] for entry in (await listed(client, org, include_archived=True))["items"]}
    assert names == {"Shared", "Renamed by admin", "By hr", "By admin"}
    assert (await client.get(base, headers=org.headers("manager"))).json()["agenda_template_id"] == template["id"]
    assert_problem(await client.get(TEMPLATES), 401)
