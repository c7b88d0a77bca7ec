"""The pages: employee (inbox, review forms, goals, praise), manager (team, pay), HR (cycles, calibration, pay)."""

from __future__ import annotations

import asyncio
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Annotated, Any, ClassVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from web.api import Api, ApiError, Services
from web.charts import Bucket, SpendRow, StackedRow, distribution_chart, nine_box_chart, progress_chart, spend_chart
from web.i18n import marked as _
from web.i18n import zone
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, ManagerPerson, Person, SignedIn, renewed_token

router = APIRouter()

PAGE = 20
STEPS = ("self_assessment", "manager_review", "pay_review", "acknowledgement")
PHASES = ("self_assessment", "manager_review", "calibration", "pay_approval", "acknowledgement")
OPEN_STATUSES = ("open", "overdue", "escalated")


def api_for(request: Request, person: Person) -> Api:
    services: Services = request.app.state.services
    return services.as_person(person.token, renew=partial(renewed_token, request))


def pages(total: int, offset: int, limit: int = PAGE) -> dict[str, int | None]:
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "previous": max(0, offset - limit) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
    }


def query(**params: Any) -> str:
    return urlencode({key: value for key, value in params.items() if value not in (None, "")})


def see_other(path: str, **params: Any) -> RedirectResponse:
    suffix = query(**params)
    return RedirectResponse(f"{path}?{suffix}" if suffix else path, status_code=303)


def errors_beside(error: ApiError, fields: Iterable[str]) -> dict[str, str]:
    """A service's refusal beside the form's ``fields`` it names (``answers.0`` beside ``answers``); what names
    no field of the form (or nothing) stands above it, as ``_form``."""
    known = set(fields)
    found: dict[str, str] = {}
    for field, message in error.fields.items():
        name = field.split(".")[0]
        found.setdefault(name if name in known else "_form", message)
    return found or {"_form": error.detail}


# What a post to one of HR's archivable lists did (values, competencies, 1:1 agenda templates).
ENTRY_DONE = ("added", "saved", "archived", "restored")


async def entry_notice(api: Api, notice: str | None, address: str) -> dict[str, str] | None:
    """The notice of what the last post did to the entry at feedback's ``address``, naming it as feedback holds
    it now (never a name from the page's address); none when it is gone or another HR person has turned it
    back meanwhile."""
    if notice not in ENTRY_DONE:
        return None
    try:
        found = await api.get("feedback", address)
    except ApiError as error:
        if error.status != 404:
            raise
        return None
    if notice in ("archived", "restored") and found["archived"] != (notice == "archived"):
        return None
    return {"done": notice, "name": str(found["name"])}


# --- employee ----------------------------------------------------------------------------------


@router.get("/", name="home")
async def home(person: SignedIn) -> Response:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox", name="inbox")
async def inbox(
    request: Request,
    person: SignedIn,
    kind: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    done: Annotated[str | None, Query()] = None,
) -> Response:
    api = api_for(request, person)
    kind = kind if kind in STEPS else None
    status = status if status in ("done", "any") else None
    tasks = api.get("reviews", "/tasks", kind=kind, status=status, limit=PAGE, offset=offset)
    pulses: list[dict[str, Any]] | None = []
    if kind is None:
        found, pulses = await asyncio.gather(tasks, _open_pulses(api))
    else:
        found = await tasks
    names = await api.names([task["person_id"] for task in found["items"]])
    return renderer(request).page(
        request,
        "inbox.html",
        person,
        tasks=found["items"],
        names=names,
        kind=kind,
        status=status,
        steps=STEPS,
        paging=pages(found["total"], offset),
        base=f"/inbox?{query(kind=kind, status=status)}",
        done=done,
        pulses=pulses,
    )


async def _open_pulses(api: Api) -> list[dict[str, Any]] | None:
    """The upward feedback the person may still answer; None when the feedback service cannot say.

    The inbox is every person's first page: it stands without this part rather than fail with it.
    """
    try:
        pulses: list[dict[str, Any]] = await api.get("feedback", "/upward-feedback/inbox")
    except (ApiError, httpx.TransportError):
        return None
    return [pulse for pulse in pulses if not pulse["answered"]]


def _answers_from(form: FormData, sections: list[dict[str, Any]], step: str) -> dict[str, Any]:
    """The API's ``Answers`` body from the posted fields ``value:<item>`` and ``comment:<item>``."""
    if step == "acknowledgement":
        comment = str(form.get("comment", "")).strip()
        return {"comment": comment or None, "dispute": form.get("dispute") == "yes"}
    if step == "pay_review":
        return {}
    answers: list[dict[str, Any]] = []
    for section in sections:
        for item in section["items"]:
            key = item["key"]
            raw_value = str(form.get(f"value:{key}", "")).strip()
            comment = str(form.get(f"comment:{key}", "")).strip()
            if not raw_value and not comment:
                continue
            answer: dict[str, Any] = {"item": key}
            if raw_value:
                answer["value"] = raw_value
            if comment:
                answer["comment"] = comment
            answers.append(answer)
    return {"answers": answers}


def _field_errors(error: ApiError, body: dict[str, Any]) -> dict[str, str]:
    """The service names fields by position (``answers.1.value``): name them by item key for the form."""
    found: dict[str, str] = {}
    answers = body.get("answers") or []
    for field, message in error.fields.items():
        parts = field.split(".")
        if len(parts) >= 2 and parts[0] == "answers" and parts[1].isdigit() and int(parts[1]) < len(answers):
            found[str(answers[int(parts[1])]["item"])] = message
        elif parts and parts[0] == "answers" and len(parts) == 1:
            found["_form"] = message
        else:
            found[parts[-1] if parts else "_form"] = message
    # A domain rule names the item in the detail ("answers: item 'craft' needs a value").
    if not found:
        found["_form"] = error.detail
    return found


async def _task_page(
    request: Request,
    person: Person,
    task_id: str,
    *,
    posted: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    message: str | None = None,
    drafted: dict[str, Any] | None = None,
) -> Response:
    api = api_for(request, person)
    form = await api.get("reviews", f"/tasks/{quote(task_id)}")
    task = form["task"]
    names = await api.names([task["person_id"], task["assignee_id"]])
    answers: dict[str, dict[str, Any]] = {}
    source = posted if posted is not None else (form.get("draft") or {})
    for answer in source.get("answers") or []:
        answers[str(answer.get("item"))] = answer
    return renderer(request).page(
        request,
        "task.html",
        person,
        form=form,
        task=task,
        names=names,
        answers=answers,
        ack=source if task["step"] == "acknowledgement" else {},
        editable=task["status"] in OPEN_STATUSES and task["assignee_id"] == person.person_id,
        errors=errors or {},
        message=message,
        drafted=drafted,
        status_code=status_code,
    )


# The window a draft's sources are read from: the last year, and the 1:1s of the coming month.
DRAFT_LOOKBACK, DRAFT_LOOKAHEAD = timedelta(days=365), timedelta(days=31)


async def _generate_draft(api: Api, task: dict[str, Any], posted: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Ask goals and feedback, with the person's own token, for what they may read about the task's person, and
    pass the signed bundles to the reviews service's draft; the posted answers win where they say something."""
    today = datetime.now(UTC).date()
    start, end = today - DRAFT_LOOKBACK, today + DRAFT_LOOKAHEAD
    person = task["person_id"]
    bundles = await asyncio.gather(
        api.get("goals", "/goals/draft-sources", person_id=person, period_start=start, period_end=end),
        api.get("feedback", "/feedback/draft-sources", person_id=person, **{"from": start, "to": end}),
    )
    drafted = await api.post(
        "reviews", f"/tasks/{quote(task['id'])}/draft/generate", json={"attested_sources": list(bundles)}
    )
    answers = {answer["item"]: dict(answer) for answer in posted.get("answers") or []}
    for answer in drafted["answers"]:
        mine = answers.setdefault(answer["item"], {"item": answer["item"]})
        if not mine.get("comment"):
            mine["comment"] = answer["comment"]
    return {"answers": list(answers.values())}, drafted


@router.get("/tasks/{task_id}", name="task")
async def task_page(request: Request, person: SignedIn, task_id: str, saved: str | None = None) -> Response:
    return await _task_page(request, person, task_id, message="saved" if saved else None)


@router.post("/tasks/{task_id}", name="task_post")
async def task_post(request: Request, person: SignedIn, task_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    current = await api.get("reviews", f"/tasks/{quote(task_id)}")
    step = current["task"]["step"]
    body = _answers_from(form, current["sections"], step)
    action = str(form.get("action", "submit"))
    try:
        if action == "generate" and step in ("self_assessment", "manager_review"):
            posted, drafted = await _generate_draft(api, current["task"], body)
            return await _task_page(request, person, task_id, posted=posted, message="generated", drafted=drafted)
        if action == "draft" and step in ("self_assessment", "manager_review"):
            await api.put("reviews", f"/tasks/{quote(task_id)}/draft", json=body)
            return see_other(f"/tasks/{task_id}", saved="1")
        await api.post("reviews", f"/tasks/{quote(task_id)}/submit", json=body)
    except ApiError as error:
        if error.status in (400, 409, 422, 403):
            return await _task_page(
                request, person, task_id, posted=body, errors=_field_errors(error, body), status_code=error.status
            )
        raise
    return see_other("/inbox", done=step)


@router.get("/goals", name="goals")
async def goals_page(
    request: Request,
    person: SignedIn,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[str | None, Query()] = None,
) -> Response:
    api = api_for(request, person)
    found = await api.get("goals", "/goals", owner_id=person.person_id, status=status, limit=PAGE, offset=offset)
    return renderer(request).page(
        request,
        "goals.html",
        person,
        goals=found["items"],
        status=status,
        paging=pages(found["total"], offset),
        base=f"/goals?{query(status=status)}",
        errors={},
    )


def _goal_body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"title": values.get("title", "").strip()}
    for name in ("description", "due_date", "period", "weight", "aligned_to_id"):
        value = values.get(name, "").strip()
        if value:
            body[name] = value
    return body


async def _goal_form(
    request: Request,
    person: Person,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    smart: dict[str, Any] | None = None,
    suggestions: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    visible = await api.get("goals", "/goals", limit=100)
    return renderer(request).page(
        request,
        "goal_new.html",
        person,
        values=values,
        errors=errors or {},
        smart=smart,
        suggestions=suggestions,
        alignable=[g for g in visible["items"] if g["level"] != "individual" or g["owner_id"] != person.person_id],
        status_code=status_code,
    )


@router.get("/goals/new", name="goal_new")
async def goal_new(request: Request, person: SignedIn) -> Response:
    return await _goal_form(request, person, {"period": str(datetime.now(UTC).year)})


@router.post("/goals/new", name="goal_create")
async def goal_create(request: Request, person: SignedIn, form: CheckedForm) -> Response:
    """*Check* asks the goals service for its SMART check and suggestions; *Save* creates the goal."""
    api = api_for(request, person)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    body = _goal_body(values)
    try:
        if form.get("action") == "check":
            smart, suggestions = await asyncio.gather(
                api.post("goals", "/goals/smart-check", json=body), api.post("goals", "/goals/suggestions", json=body)
            )
            return await _goal_form(request, person, values, smart=smart, suggestions=suggestions)
        await api.post("goals", "/goals", json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        errors = {field.split(".")[0]: message for field, message in error.fields.items()} or {"_form": error.detail}
        return await _goal_form(request, person, values, errors=errors, status_code=error.status)
    return see_other("/goals")


@router.get("/goals/{goal_id}/tree", name="goal_tree")
async def goal_tree(request: Request, person: SignedIn, goal_id: str) -> Response:
    api = api_for(request, person)
    tree = await api.get("goals", f"/goals/{quote(goal_id)}/tree")
    return renderer(request).page(request, "goal_tree.html", person, tree=tree)


@router.post("/goals/{goal_id}/check-ins", name="goal_check_in")
async def goal_check_in(request: Request, person: SignedIn, goal_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    body: dict[str, Any] = {"note": str(form.get("note", "")).strip() or None}
    raw = str(form.get("value", "")).strip()
    if raw:
        body["value"] = raw
    key_result = str(form.get("key_result_id", "")).strip()
    if key_result:
        body["key_result_id"] = key_result
    try:
        await api.post("goals", f"/goals/{quote(goal_id)}/check-ins", json=body)
    except ApiError as error:
        if error.status not in (400, 409, 422):
            raise
        found = await api.get("goals", "/goals", owner_id=person.person_id, limit=PAGE)
        return renderer(request).page(
            request,
            "goals.html",
            person,
            goals=found["items"],
            status=None,
            paging=pages(found["total"], 0),
            base="/goals?",
            errors={goal_id: error.fields.get("value") or error.detail},
            status_code=error.status,
        )
    return see_other("/goals")


# --- people pickers (praise, feedback, feedback requests, a new cycle) ---------------------------

# A picker lists the first PICKER active people of the directory by name; anyone else is found by name
# or e-mail address (``people_q``), and a search lists its first MATCHES matches.
PICKER = 500
MATCHES = 50
SEARCH_MIN, SEARCH_MAX = 2, 100  # the directory's bounds for GET /people?q=
CHOSEN_MAX = 200  # the directory's GET /people?id= takes this many ids a call

# The people a picker has chosen, as the search form passes them back (repeated query parameters).
Chosen = Annotated[list[str] | None, Query()]


@dataclass(frozen=True)
class PeopleChoice:
    """What a people picker offers: ``people`` for its select, and what its search form says."""

    least: ClassVar[int] = SEARCH_MIN
    most: ClassVar[int] = SEARCH_MAX
    listed: ClassVar[int] = PICKER
    shown: ClassVar[int] = MATCHES

    people: list[dict[str, Any]]
    q: str | None = None  # the search as typed; None: none
    matches: int | None = None  # how many people match the search (None: the list is no search result)
    total: int = 0  # active people in the directory, when the list is its first PICKER
    refused: bool = False  # the search text is too short or too long: the list is the first PICKER

    @property
    def offered(self) -> bool:
        """The search form shows when the list cannot hold everyone, or once a search is asked for."""
        return self.q is not None or self.total > PICKER


def person_ids(values: Iterable[Any] | None) -> list[str]:
    """Distinct person ids, in order, without what is not one (a hand-made address)."""
    found: list[str] = []
    for value in values or ():
        try:
            person_id = str(uuid.UUID(str(value)))
        except ValueError:
            continue
        if person_id not in found:
            found.append(person_id)
    return found


async def people_choice(
    api: Api, q: str | None, chosen: Iterable[Any] | None = None, *, leave_out: str | None = None
) -> PeopleChoice:
    """The people a picker offers: the first PICKER active people of the directory by name, or with ``q``
    (a name or e-mail address, SEARCH_MIN to SEARCH_MAX characters) the first MATCHES who match it; either
    way with the ``chosen`` ones first when the list leaves them out, so what is chosen stays chosen.
    ``leave_out``: the signed-in person, where nobody picks themselves. The directory answers as its
    ``GET /people`` answers this person: the search shows nobody the list would not show them."""
    text = q.strip() if q is not None else None
    if text == "":
        text = None  # an empty search: the list again
    # The directory's rules for q, checked here so that the page says it beside the box: a length, and no
    # control character (only a hand-made address has one: the box takes none).
    refused = text is not None and (
        not SEARCH_MIN <= len(text) <= SEARCH_MAX or any(unicodedata.category(c) == "Cc" for c in text)
    )
    searching = text is not None and not refused
    wanted = person_ids(chosen)[:CHOSEN_MAX]

    async def chosen_people() -> list[dict[str, Any]]:
        if not wanted:
            return []
        params = [("id", person_id) for person_id in wanted] + [("active", "true"), ("limit", str(len(wanted)))]
        return list((await api.request("reviews", "GET", "/people", params=params))["items"])

    found, known = await asyncio.gather(
        api.get(
            "reviews", "/people", active="true", q=text if searching else None, limit=MATCHES if searching else PICKER
        ),
        chosen_people(),
    )
    listed = {str(p["id"]) for p in found["items"]}
    offered = [p for p in known if str(p["id"]) not in listed] + list(found["items"])
    people = [p for p in offered if str(p["id"]) != leave_out]
    if searching:
        return PeopleChoice(people, q=text, matches=found["total"])
    return PeopleChoice(people, q=text, total=found["total"], refused=refused)


@router.get("/praise", name="praise")
async def praise_page(
    request: Request,
    person: SignedIn,
    offset: Annotated[int, Query(ge=0)] = 0,
    given: str | None = None,
    mine: str | None = None,
    people_q: str | None = None,
    receiver_ids: Chosen = None,
) -> Response:
    return await _praise_page(
        request,
        person,
        offset=offset,
        notice="given" if given else None,
        mine=bool(mine),
        people_q=people_q,
        chosen=receiver_ids,
    )


async def _praise_page(
    request: Request,
    person: Person,
    *,
    offset: int = 0,
    notice: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    mine: bool = False,
    people_q: str | None = None,
    chosen: list[str] | None = None,
) -> Response:
    api = api_for(request, person)
    receiver = person.person_id if mine else None
    found, colleagues = await asyncio.gather(
        api.get("feedback", "/praise", receiver_id=receiver, limit=PAGE, offset=offset),
        people_choice(api, people_q, chosen, leave_out=person.person_id),
    )
    ids = [p["giver_id"] for p in found["items"]] + [r for p in found["items"] for r in p["receiver_ids"]]
    names = await api.names(ids)
    return renderer(request).page(
        request,
        "praise.html",
        person,
        praise=found["items"],
        names=names,
        colleagues=colleagues,
        chosen=person_ids(chosen),
        paging=pages(found["total"], offset),
        base=f"/praise?{query(mine='1' if mine else None)}",
        mine=mine,
        notice=notice,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@router.post("/praise", name="praise_give")
async def praise_give(request: Request, person: SignedIn, form: CheckedForm) -> Response:
    api = api_for(request, person)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    body: dict[str, Any] = {
        "receiver_ids": [str(value) for value in form.getlist("receiver_ids") if str(value)],
        "message": values.get("message", "").strip(),
        "company_value": values.get("company_value", "").strip() or None,
    }
    try:
        await api.post("feedback", "/praise", json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        errors = {field.split(".")[0]: message for field, message in error.fields.items()} or {"_form": error.detail}
        return await _praise_page(
            request, person, values=values, errors=errors, status_code=error.status, chosen=body["receiver_ids"]
        )
    return see_other("/praise", given="1")


# --- manager -----------------------------------------------------------------------------------


@router.get("/team", name="team")
async def team_page(request: Request, person: ManagerPerson, offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    api = api_for(request, person)
    reports, tasks = await asyncio.gather(
        api.get("reviews", f"/people/{person.person_id}/reports", active="true", limit=PAGE, offset=offset),
        api.get("reviews", "/tasks", scope="reports", status="any", limit=500),
    )
    by_person: dict[str, list[dict[str, Any]]] = {}
    for task in tasks["items"]:
        by_person.setdefault(str(task["person_id"]), []).append(task)
    return renderer(request).page(
        request,
        "team.html",
        person,
        reports=reports["items"],
        tasks=by_person,
        paging=pages(reports["total"], offset),
        base="/team?",
    )


@router.get("/pay/{cycle_id}", name="pay")
async def pay_page(request: Request, person: ManagerPerson, cycle_id: str, submitted: str | None = None) -> Response:
    return await _pay_page(request, person, cycle_id, submitted=submitted)


async def _pay_page(
    request: Request,
    person: Person,
    cycle_id: str,
    *,
    submitted: str | None = None,
    budget: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    found = await api.get("rewards", f"/cycles/{quote(cycle_id)}/proposals", manager="me", limit=500)
    return renderer(request).page(
        request,
        "pay.html",
        person,
        cycle_id=cycle_id,
        proposals=found["items"],
        submitted=submitted,
        budget=budget,
        errors=errors or {},
        status_code=status_code,
    )


@router.post("/pay/{cycle_id}/proposals/{proposal_id}", name="pay_edit")
async def pay_edit(
    request: Request, person: ManagerPerson, cycle_id: str, proposal_id: str, form: CheckedForm
) -> Response:
    api = api_for(request, person)
    body = {
        "proposed_pct": str(form.get("proposed_pct", "")).strip(),
        "justification": str(form.get("justification", "")).strip() or None,
    }
    try:
        edited = await api.request("rewards", "PATCH", f"/proposals/{quote(proposal_id)}", json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        message = next(iter(error.fields.values()), None) or error.detail
        return await _pay_page(request, person, cycle_id, errors={proposal_id: message}, status_code=error.status)
    # The answer carries the unit's budget after this change: shown above the list.
    return await _pay_page(request, person, cycle_id, budget=edited.get("budget"))


@router.post("/pay/{cycle_id}/submit", name="pay_submit")
async def pay_submit(request: Request, person: ManagerPerson, cycle_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    try:
        # With HR's approval policy, submitting starts my approval chain; without one (409) it is a plain submit.
        await api.post("rewards", f"/cycles/{quote(cycle_id)}/approval-chains", json={})
    except ApiError as error:
        if error.status != 409:
            raise
        await api.post("rewards", f"/cycles/{quote(cycle_id)}/proposals/submit", manager="me")
    return see_other(f"/pay/{cycle_id}", submitted="1")


# --- HR: cycles ----------------------------------------------------------------------------------


@router.get("/hr/cycles", name="cycles")
async def cycles_page(
    request: Request,
    person: HRPerson,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[str | None, Query()] = None,
) -> Response:
    api = api_for(request, person)
    status = status if status in ("draft", "launched", "closed", "cancelled") else None
    found = await api.get("reviews", "/review-cycles", status=status, limit=PAGE, offset=offset)
    return renderer(request).page(
        request,
        "cycles.html",
        person,
        cycles=found["items"],
        status=status,
        paging=pages(found["total"], offset),
        base=f"/hr/cycles?{query(status=status)}",
    )


async def _new_cycle_page(
    request: Request,
    person: Person,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    people_q: str | None = None,
) -> Response:
    api = api_for(request, person)
    chosen = {many: person_ids(values.get(f"{many}_list")) for many in PEOPLE_FILTERS}
    templates, people = await asyncio.gather(
        api.get("reviews", "/templates", limit=200),
        people_choice(api, people_q, [person_id for many in PEOPLE_FILTERS for person_id in chosen[many]]),
    )
    published = [t for t in templates["items"] if t.get("status") == "published"]
    return renderer(request).page(
        request,
        "cycle_new.html",
        person,
        templates=published,
        people=people,
        chosen=chosen,
        values=values,
        errors=errors,
        phases=PHASES,
        status_code=status_code,
    )


def _default_cycle_values(person: Person) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    values: dict[str, Any] = {
        "name": "",
        "period_start": date(today.year, 1, 1).isoformat(),
        "period_end": date(today.year, 12, 31).isoformat(),
        **dict.fromkeys(TEXT_FILTERS, ""),
        "reminder_every_hours": "48",
    }
    for index, phase in enumerate(PHASES):
        values[f"deadline_{phase}"] = (today + timedelta(days=14 * (index + 1))).isoformat()
    return values


@router.get("/hr/cycles/new", name="cycle_new")
async def cycle_new(
    request: Request,
    person: HRPerson,
    people_q: str | None = None,
    manager_subtrees: Chosen = None,
    include: Chosen = None,
    exclude: Chosen = None,
) -> Response:
    """``people_q``: the people lists show who matches it; the people chosen come back as parameters."""
    chosen = {"manager_subtrees_list": manager_subtrees, "include_list": include, "exclude_list": exclude}
    values = {**_default_cycle_values(person), **{name: ids for name, ids in chosen.items() if ids}}
    return await _new_cycle_page(request, person, values, {}, people_q=people_q)


# The reviews service's participant filters the new-cycle form offers: comma-separated names, and
# people chosen from the directory (everyone below a manager, plus some, minus some).
TEXT_FILTERS = ("departments", "organizations", "divisions", "locations")
PEOPLE_FILTERS = ("manager_subtrees", "include", "exclude")
NAMED = 20  # people named per list on a draft cycle's page; the rest are counted


def _split(raw: str) -> list[str] | None:
    items = [part.strip() for part in raw.split(",") if part.strip()]
    return items or None


def _deadline(raw: str, tz: ZoneInfo) -> str | None:
    """A date field means the end of that day in the person's time zone."""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return datetime.combine(day, time(17, 0), tzinfo=tz).isoformat()


@router.post("/hr/cycles", name="cycle_create")
async def cycle_create(request: Request, person: HRPerson, form: CheckedForm) -> Response:
    values: dict[str, Any] = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    for many in PEOPLE_FILTERS:
        values[f"{many}_list"] = [str(value) for value in form.getlist(many) if str(value)]
    tz = zone(person.timezone)
    errors: dict[str, str] = {}
    deadlines: dict[str, str] = {}
    for phase in PHASES:
        found = _deadline(values.get(f"deadline_{phase}", ""), tz)
        if found is None:
            errors[f"deadline_{phase}"] = "date"
        else:
            deadlines[phase] = found
    filters: dict[str, Any] = {}
    for name in TEXT_FILTERS:
        if listed := _split(values.get(name, "")):
            filters[name] = listed
    if hired_before := values.get("hired_before", "").strip():
        filters["hired_before"] = hired_before
    for many in PEOPLE_FILTERS:
        if values[f"{many}_list"]:
            filters[many] = values[f"{many}_list"]
    body: dict[str, Any] = {
        "name": values.get("name", ""),
        "period_start": values.get("period_start", ""),
        "period_end": values.get("period_end", ""),
        "template_id": values.get("template_id", ""),
        "filters": filters,
        "deadlines": deadlines,
        "reminder_every_hours": values.get("reminder_every_hours") or None,
        "escalation": [{"after_hours": 0, "notify": "manager"}],
    }
    if not errors:
        api = api_for(request, person)
        try:
            created = await api.post("reviews", "/review-cycles", json=body)
        except ApiError as error:
            if error.status not in (400, 404, 409, 422):
                raise
            for field, message in error.fields.items():
                name = field.split(".")[0]
                if name == "deadlines":
                    name = "deadline_" + (field.split(".")[1] if "." in field else "self_assessment")
                errors[name] = message
            if not errors:
                errors["_form"] = error.detail
        else:
            return see_other(f"/hr/cycles/{created['id']}")
    return await _new_cycle_page(request, person, values, errors, status_code=422)


@router.get("/cycles/{cycle_id}", name="cycle_link")
async def cycle_link(person: HRPerson, cycle_id: str) -> Response:
    """The address mails link a cycle with (notifications' gate reminders): HR's cycle page."""
    return RedirectResponse(f"/hr/cycles/{quote(cycle_id)}", status_code=303)


@router.get("/hr/cycles/{cycle_id}", name="cycle")
async def cycle_page(
    request: Request,
    person: HRPerson,
    cycle_id: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    notice: str | None = None,
    people_q: str | None = None,
) -> Response:
    """``people_q``: the overdue tasks' *Reassign* lists offer who matches it."""
    return await _cycle_page(request, person, cycle_id, offset=offset, notice=notice, people_q=people_q)


async def _cycle_page(
    request: Request,
    person: Person,
    cycle_id: str,
    *,
    offset: int = 0,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    people_q: str | None = None,
) -> Response:
    api = api_for(request, person)
    path = f"/review-cycles/{quote(cycle_id)}"
    cycle = await api.get("reviews", path)
    progress: dict[str, Any] = {"org_units": [], "steps": {}}
    overdue: dict[str, Any] = {"items": [], "total": 0}
    sessions: list[dict[str, Any]] = []
    if cycle["status"] != "draft":
        progress, overdue, sessions = await asyncio.gather(
            api.get("reviews", f"{path}/progress"),
            api.get("reviews", f"{path}/overdue", limit=PAGE, offset=offset),
            api.get("reviews", f"{path}/calibration-sessions"),
        )
    chosen = [str(value) for many in PEOPLE_FILTERS for value in (cycle["filters"].get(many) or [])[:NAMED]]
    names = await api.names(
        [task["person_id"] for task in overdue["items"]] + [task["assignee_id"] for task in overdue["items"]] + chosen
    )
    people = await people_choice(api, people_q) if overdue["items"] else None
    translations = renderer(request).translations(renderer(request).language(request, person))
    rows = []
    for unit in progress["org_units"]:
        done = open_ = late = 0
        for counts in unit["steps"].values():
            done += counts.get("done", 0)
            late += counts.get("overdue", 0) + counts.get("escalated", 0)
            open_ += counts.get("open", 0)
        rows.append(StackedRow(unit["org_unit"], done, open_, late))
    chart = (
        progress_chart(
            rows,
            title=translations.gettext("Tasks done per organisation unit"),
            legend=(translations.gettext("done"), translations.gettext("open"), translations.gettext("overdue")),
        )
        if rows
        else None
    )
    return renderer(request).page(
        request,
        "cycle.html",
        person,
        cycle=cycle,
        progress=progress,
        chart=chart,
        rows=rows,
        overdue=overdue["items"],
        paging=pages(overdue["total"], offset),
        base=f"/hr/cycles/{cycle_id}?",
        sessions=sessions,
        names=names,
        named=NAMED,
        people=people,
        steps=STEPS,
        notice=notice,
        errors=errors or {},
        status_code=status_code,
    )


async def _cycle_action(
    request: Request, person: Person, cycle_id: str, call: Any, notice: str, field: str = "_form"
) -> Response:
    try:
        await call
    except ApiError as error:
        if error.status not in (400, 404, 409, 422, 403, 503):
            raise
        message = next(iter(error.fields.values()), None) or error.detail
        return await _cycle_page(request, person, cycle_id, errors={field: message}, status_code=error.status)
    return see_other(f"/hr/cycles/{cycle_id}", notice=notice)


@router.post("/hr/cycles/{cycle_id}/launch", name="cycle_launch")
async def cycle_launch(request: Request, person: HRPerson, cycle_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    return await _cycle_action(
        request, person, cycle_id, api.post("reviews", f"/review-cycles/{quote(cycle_id)}/launch"), "launched"
    )


NEXT_PHASE = dict(zip(PHASES, (*PHASES[1:], "closed"), strict=True))


@router.post("/hr/cycles/{cycle_id}/advance", name="cycle_advance")
async def cycle_advance(request: Request, person: HRPerson, cycle_id: str, form: CheckedForm) -> Response:
    """Open the next phase now (e.g. pay approval without pay data in a demo)."""
    api = api_for(request, person)
    body = {"to": NEXT_PHASE.get(str(form.get("from", "")), "")}
    return await _cycle_action(
        request,
        person,
        cycle_id,
        api.post("reviews", f"/review-cycles/{quote(cycle_id)}/advance", json=body),
        "advanced",
        "advance",
    )


@router.post("/hr/cycles/{cycle_id}/cancel", name="cycle_cancel")
async def cycle_cancel(request: Request, person: HRPerson, cycle_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    body = {"reason": str(form.get("reason", "")).strip() or None}
    return await _cycle_action(
        request,
        person,
        cycle_id,
        api.post("reviews", f"/review-cycles/{quote(cycle_id)}/cancel", json=body),
        "cancelled",
        "reason",
    )


@router.post("/hr/cycles/{cycle_id}/extend", name="cycle_extend")
async def cycle_extend(request: Request, person: HRPerson, cycle_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    deadline = _deadline(str(form.get("new_deadline", "")), zone(person.timezone))
    if deadline is None:
        return await _cycle_page(request, person, cycle_id, errors={"new_deadline": "date"}, status_code=422)
    body = {"step": str(form.get("step", "")), "new_deadline": deadline}
    return await _cycle_action(
        request,
        person,
        cycle_id,
        api.post("reviews", f"/review-cycles/{quote(cycle_id)}/deadlines", json=body),
        "extended",
        "new_deadline",
    )


@router.post("/hr/tasks/{task_id}/reassign", name="task_reassign")
async def task_reassign(request: Request, person: HRPerson, task_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    cycle_id = str(form.get("cycle_id", ""))
    body = {"new_assignee_id": str(form.get("new_assignee_id", ""))}
    return await _cycle_action(
        request,
        person,
        cycle_id,
        api.post("reviews", f"/tasks/{quote(task_id)}/reassign", json=body),
        "reassigned",
        f"reassign:{task_id}",
    )


# --- HR: calibration and pay approval ----------------------------------------------------------------


def _current_rating(row: dict[str, Any]) -> Any:
    return row["final_rating"] if row.get("final_rating") is not None else row.get("proposed_rating")


async def _optional(call: Any) -> tuple[Any, str | None]:
    """A side panel's data, or why there is none: the ratings page stands without it."""
    try:
        return await call, None
    except ApiError as error:
        if error.status == 401:
            raise
        return None, error.detail


async def _pay_consequences(
    api: Api, calibration: dict[str, Any], cycle: dict[str, Any], moved: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, str | None, dict[str, Any] | None, str | None]:
    """The session's ratings as they stand, posted to rewards: spend against the pools, the gap, adverse impact."""
    values = [float(point["value"]) for point in cycle.get("rating_points") or []]
    ratings = []
    for row in calibration["rows"]:
        rating = _current_rating(row)
        if rating is None:
            continue
        entry: dict[str, Any] = {"person_id": str(row["person_id"]), "rating": rating}
        if moved is not None and str(moved["person_id"]) == str(row["person_id"]):
            entry["previous_rating"] = moved["from_rating"]
        ratings.append(entry)
    if not ratings or not values:
        return None, None, None, None
    cycle_path = f"/cycles/{quote(str(cycle['id']))}"
    scale = {"scale_min": min(values), "scale_max": max(values)}
    plain = [{"person_id": r["person_id"], "rating": r["rating"]} for r in ratings]
    (impact, impact_error), (adverse, adverse_error) = await asyncio.gather(
        _optional(api.post("rewards", f"{cycle_path}/calibration-impact", json={**scale, "ratings": ratings})),
        _optional(api.post("rewards", f"{cycle_path}/adverse-impact", json={**scale, "ratings": plain})),
    )
    return impact, impact_error, adverse, adverse_error


async def _calibration_page(
    request: Request,
    person: Person,
    session_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
    offset: int = 0,
    manager: str | None = None,
    changed: bool = False,
) -> Response:
    api = api_for(request, person)
    path = f"/calibration-sessions/{quote(session_id)}"
    calibration = await api.get("reviews", path)
    (cycle, (nine_box, _nine_box_error), (raters, _raters_error)) = await asyncio.gather(
        api.get("reviews", f"/review-cycles/{calibration['cycle_id']}"),
        _optional(api.get("reviews", f"{path}/nine-box")),
        _optional(api.get("reviews", f"{path}/raters")),
    )
    # After an adjustment the answer shows what that one change costs (previous_rating).
    moved = None
    if notice == "adjusted" and calibration.get("adjustments"):
        moved = max(calibration["adjustments"], key=lambda adjustment: str(adjustment["created_at"]))
        if moved.get("kind") == "potential" or moved.get("from_rating") is None:
            moved = None
    impact, impact_error, adverse, adverse_error = await _pay_consequences(api, calibration, cycle, moved)
    managers = [m["manager_id"] for m in (raters or {}).get("managers", [])]
    rows = calibration["rows"]
    names = await api.names([row["person_id"] for row in rows] + [row["manager_id"] for row in rows] + managers)
    shown = sorted(
        (
            row
            for row in rows
            if (not manager or str(row["manager_id"]) == manager)
            and (not changed or row["final_rating"] != row["proposed_rating"])
        ),
        key=lambda row: names.get(str(row["person_id"]), "").casefold(),
    )
    row_managers = sorted(
        {str(row["manager_id"]) for row in rows if row["manager_id"]}, key=lambda m: names.get(m, "").casefold()
    )
    translations = renderer(request).translations(renderer(request).language(request, person))
    gettext = translations.gettext
    buckets = [Bucket(b["label"], float(b["share"]), float(b["guideline"])) for b in calibration["distribution"]]
    chart = distribution_chart(
        buckets,
        title=gettext("Rating distribution against the guideline"),
        legend=(gettext("people rated"), gettext("guideline")),
    )
    box_chart = None
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    if nine_box is not None:
        cells = {(c["performance"], c["potential"]): c for c in nine_box["cells"]}
        box_chart = nine_box_chart(
            {key: int(cell["count"]) for key, cell in cells.items()},
            title=gettext("9-box: performance against potential"),
            band_labels=(gettext("low"), gettext("middle"), gettext("high")),
            axes=(gettext("Performance"), gettext("Potential")),
        )
    spend = None
    if impact is not None and impact["units"]:
        spend = spend_chart(
            [
                SpendRow(
                    unit["org_unit"],
                    float(unit["merit_spend"]),
                    None if unit["merit_budget"] is None else float(unit["merit_budget"]),
                )
                for unit in impact["units"]
            ],
            title=gettext("Projected merit spend against the budget per unit"),
            legend=(gettext("projected spend"), gettext("budget")),
        )
    return renderer(request).page(
        request,
        "calibration.html",
        person,
        calibration=calibration,
        rows_page=shown[offset : offset + CALIBRATION_ROWS],
        rows_shown=len(shown),
        row_managers=row_managers,
        manager=manager or "",
        changed=changed,
        paging=pages(len(shown), offset, CALIBRATION_ROWS),
        base=f"/hr/calibration/{session_id}?{query(manager=manager, changed='1' if changed else None)}",
        cycle=cycle,
        names=names,
        chart=chart,
        points=cycle.get("rating_points") or [],
        potential_points=(nine_box or {}).get("potential_scale") or cycle.get("potential_points") or [],
        nine_box=nine_box,
        cells=cells,
        bands=("low", "middle", "high"),
        box_chart=box_chart,
        unplaced=[names.get(str(p), "") for p in (nine_box or {}).get("unplaced", [])],
        raters=raters,
        impact=impact,
        impact_error=impact_error,
        spend_chart=spend,
        adverse=adverse,
        adverse_error=adverse_error,
        errors=errors or {},
        values=values or {},
        notice=notice,
        status_code=status_code,
    )


# Rows of the ratings table a page: a session is one organisation unit, which may be large.
CALIBRATION_ROWS = 50


@router.get("/hr/calibration/{session_id}", name="calibration")
async def calibration_page(
    request: Request,
    person: HRPerson,
    session_id: str,
    notice: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    manager: Annotated[str | None, Query(max_length=64)] = None,
    changed: bool = False,
) -> Response:
    """``manager``: only that manager's reports; ``changed``: only ratings calibration moved."""
    return await _calibration_page(
        request, person, session_id, notice=notice, offset=offset, manager=manager, changed=changed
    )


@router.post("/hr/calibration/{session_id}/adjustments", name="calibration_adjust")
async def calibration_adjust(request: Request, person: HRPerson, session_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    # The potential form's fields carry a prefix so that its errors stand beside its own fields.
    potential = values.get("kind") == "potential"
    prefix = "potential_" if potential else ""
    body = {
        "person_id": values.get(f"{prefix}person_id", ""),
        "to_rating": values.get(f"{prefix}to_rating", ""),
        "reason": values.get(f"{prefix}reason", "").strip(),
        "kind": "potential" if potential else "performance",
    }
    try:
        await api.post("reviews", f"/calibration-sessions/{quote(session_id)}/adjustments", json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        errors = {prefix + field.split(".")[0]: message for field, message in error.fields.items()} or {
            "_form": error.detail
        }
        return await _calibration_page(
            request, person, session_id, errors=errors, values=values, status_code=error.status
        )
    return see_other(f"/hr/calibration/{session_id}", notice="adjusted")


@router.post("/hr/calibration/{session_id}/finalize", name="calibration_finalize")
async def calibration_finalize(request: Request, person: HRPerson, session_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    try:
        await api.post("reviews", f"/calibration-sessions/{quote(session_id)}/finalize")
    except ApiError as error:
        if error.status not in (400, 409, 422, 503):
            raise
        return await _calibration_page(
            request, person, session_id, errors={"_form": error.detail}, status_code=error.status
        )
    return see_other(f"/hr/calibration/{session_id}", notice="finalized")


@router.get("/hr/disputes", name="disputes")
async def disputes_page(
    request: Request,
    person: HRPerson,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[str | None, Query()] = "open",
    notice: str | None = None,
) -> Response:
    return await _disputes_page(request, person, offset=offset, status=status, notice=notice)


async def _disputes_page(
    request: Request,
    person: Person,
    *,
    offset: int = 0,
    status: str | None = "open",
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    status = status if status in ("open", "resolved") else None
    found = await api.get("reviews", "/disputes", status=status, limit=PAGE, offset=offset)
    names = await api.names([d["person_id"] for d in found["items"]])
    return renderer(request).page(
        request,
        "disputes.html",
        person,
        disputes=found["items"],
        names=names,
        status=status,
        paging=pages(found["total"], offset),
        base=f"/hr/disputes?{query(status=status or 'any')}",
        notice=notice,
        errors=errors or {},
        status_code=status_code,
    )


@router.post("/hr/disputes/{dispute_id}/resolve", name="dispute_resolve")
async def dispute_resolve(request: Request, person: HRPerson, dispute_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    body: dict[str, Any] = {
        "outcome": str(form.get("outcome", "")),
        "resolution": str(form.get("resolution", "")).strip(),
    }
    rating = str(form.get("rating", "")).strip()
    if rating:
        body["rating"] = rating
    try:
        await api.post("reviews", f"/disputes/{quote(dispute_id)}/resolve", json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        errors = {f"{dispute_id}:{field.split('.')[0]}": message for field, message in error.fields.items()}
        return await _disputes_page(
            request, person, errors=errors or {f"{dispute_id}:_form": error.detail}, status_code=error.status
        )
    return see_other("/hr/disputes", notice="resolved")


@router.get("/hr/pay/{cycle_id}", name="pay_approval")
async def pay_approval_page(
    request: Request,
    person: HRPerson,
    cycle_id: str,
    notice: str | None = None,
    written: Annotated[int | None, Query(ge=0)] = None,
    kept: Annotated[int | None, Query(ge=0)] = None,
    on: Annotated[date | None, Query()] = None,
    returned: Annotated[int | None, Query(ge=0)] = None,
    unit: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    counts = None if written is None else {"written": written, "kept": kept or 0, "on": on}
    back = None if returned is None else {"count": returned, "unit": unit or ""}
    return await _pay_approval_page(request, person, cycle_id, notice=notice, pay_changes=counts, returned=back)


async def _pay_approval_page(
    request: Request,
    person: Person,
    cycle_id: str,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    pay_changes: dict[str, Any] | None = None,
    effective_date: str = "",
    returned: dict[str, Any] | None = None,
    reasons: dict[str, str] | None = None,
) -> Response:
    api = api_for(request, person)
    try:
        pay_cycle = await api.get("rewards", f"/cycles/{quote(cycle_id)}")
    except ApiError as error:
        if error.status != 404:
            raise
        pay_cycle = None
    summaries = []
    if pay_cycle is not None:
        summaries = await asyncio.gather(
            *(
                api.get("rewards", f"/cycles/{quote(cycle_id)}/org-units/{quote(unit)}/summary")
                for unit in pay_cycle["org_units"]
            )
        )
    return renderer(request).page(
        request,
        "pay_approval.html",
        person,
        cycle_id=cycle_id,
        pay_cycle=pay_cycle,
        summaries=summaries,
        notice=notice,
        errors=errors or {},
        status_code=status_code,
        pay_changes=pay_changes,
        effective_date=effective_date,
        returned=returned,
        reasons=reasons or {},
    )


@router.post("/hr/pay/{cycle_id}/{org_unit}/approve", name="pay_approve")
async def pay_approve(request: Request, person: HRPerson, cycle_id: str, org_unit: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    try:
        await api.post("rewards", f"/cycles/{quote(cycle_id)}/org-units/{quote(org_unit)}/approve")
    except ApiError as error:
        if error.status not in (404, 409, 422):
            raise
        return await _pay_approval_page(
            request, person, cycle_id, errors={org_unit: error.detail}, status_code=error.status
        )
    return see_other(f"/hr/pay/{cycle_id}", notice="approved")


@router.post("/hr/pay/{cycle_id}/{org_unit}/return", name="pay_return")
async def pay_return(request: Request, person: HRPerson, cycle_id: str, org_unit: str, form: CheckedForm) -> Response:
    """Sends a unit's submitted proposals back to their managers with HR's reason (rewards' reject)."""
    api = api_for(request, person)
    reason = str(form.get("reason") or "").strip()
    try:
        done = await api.post(
            "rewards",
            f"/cycles/{quote(cycle_id)}/org-units/{quote(org_unit)}/reject",
            json={"reason": reason or None},
        )
    except ApiError as error:
        if error.status not in (404, 409, 422):
            raise
        return await _pay_approval_page(
            request,
            person,
            cycle_id,
            errors={f"return-{org_unit}": error.fields.get("reason") or error.detail},
            status_code=error.status,
            reasons={org_unit: reason},
        )
    return see_other(f"/hr/pay/{cycle_id}", notice="returned", returned=done["returned"], unit=org_unit)


@router.post("/hr/pay/{cycle_id}/pay-changes", name="pay_changes")
async def pay_changes(request: Request, person: HRPerson, cycle_id: str, form: CheckedForm) -> Response:
    """Writes the finalized cycle's approved salaries from the date HR chose (rewards decides what is written)."""
    api = api_for(request, person)
    effective_date = str(form.get("effective_date") or "").strip()
    try:
        written = await api.post(
            "rewards", f"/cycles/{quote(cycle_id)}/pay-changes", json={"effective_date": effective_date or None}
        )
    except ApiError as error:
        if error.status not in (404, 409, 422):
            raise
        message = error.fields.get("effective_date") or error.detail
        return await _pay_approval_page(
            request,
            person,
            cycle_id,
            errors={"effective_date": message},
            status_code=error.status,
            effective_date=effective_date,
        )
    kept = written["newer_record"] + written["date_taken"]
    return see_other(
        f"/hr/pay/{cycle_id}",
        notice="pay_changes",
        written=written["written"] + written["already_written"],
        kept=kept,
        on=written["effective_date"],
    )


# --- pay approval chains (rewards' approval routes) ------------------------------------------------


@router.get("/approvals", name="approvals")
async def approvals_page(
    request: Request,
    person: SignedIn,
    offset: Annotated[int, Query(ge=0)] = 0,
    notice: str | None = None,
) -> Response:
    """The approval steps waiting on me: managers up the line, the named approver, HR for final steps."""
    api = api_for(request, person)
    waiting: list[dict[str, Any]] = await api.get("rewards", "/me/approval-tasks")
    shown = waiting[offset : offset + PAGE]
    names = await api.names([chain["manager_id"] for chain in shown])
    cycles = await asyncio.gather(*(_optional(api.get("reviews", f"/review-cycles/{c['cycle_id']}")) for c in shown))
    cycle_names = {
        str(chain["cycle_id"]): (found or {}).get("name") or str(chain["cycle_id"])[:8]
        for chain, (found, _error) in zip(shown, cycles, strict=True)
    }
    return renderer(request).page(
        request,
        "approvals.html",
        person,
        chains=shown,
        names=names,
        cycle_names=cycle_names,
        paging=pages(len(waiting), offset),
        base="/approvals?",
        notice=notice,
    )


async def _chain_page(
    request: Request,
    person: Person,
    cycle_id: str,
    manager_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    chain = await api.get("rewards", f"/cycles/{quote(cycle_id)}/approval-chains/{quote(manager_id)}")
    # The chain's proposals are those of its latest snapshot (the audit keeps ids, never names).
    snapshot: dict[str, Any] = {}
    for entry in chain.get("audit") or []:
        if entry.get("after") and entry["after"].get("proposals") is not None:
            snapshot = entry["after"]["proposals"]
    viewer = {"manager": manager_id} if person.is_hr else {"manager": "me", "scope": "all"}
    listed, _error = await _optional(api.get("rewards", f"/cycles/{quote(cycle_id)}/proposals", limit=500, **viewer))
    proposals = [p for p in (listed or {}).get("items", []) if str(p["id"]) in snapshot]
    ids = [chain["manager_id"], *(s["assignee_id"] for s in chain["steps"])]
    ids += [entry["actor_id"] for entry in chain.get("audit") or []]
    names = await api.names(ids)
    mine = chain["status"] != "approved" and (
        str(chain.get("current_assignee_id")) == person.person_id
        or (chain.get("current_assignee_id") is None and person.is_hr)
    )
    return renderer(request).page(
        request,
        "approval_chain.html",
        person,
        chain=chain,
        cycle_id=cycle_id,
        proposals=proposals,
        names=names,
        mine=mine,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@router.get("/approvals/{cycle_id}/{manager_id}", name="approval_chain")
async def approval_chain_page(request: Request, person: SignedIn, cycle_id: str, manager_id: str) -> Response:
    return await _chain_page(request, person, cycle_id, manager_id)


@router.post("/approvals/{cycle_id}/{manager_id}", name="approval_decide")
async def approval_decide(
    request: Request, person: SignedIn, cycle_id: str, manager_id: str, form: CheckedForm
) -> Response:
    api = api_for(request, person)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    body: dict[str, Any] = {
        "action": values.get("action", ""),
        "comment": values.get("comment", "").strip() or None,
    }
    # The step the page showed: deciding a step that moved on meanwhile is the service's 409, not a slip.
    if values.get("step_index", "").isdigit():
        body["step_index"] = int(values["step_index"])
    path = f"/cycles/{quote(cycle_id)}/approval-chains/{quote(manager_id)}/decisions"
    try:
        await api.post("rewards", path, json=body)
    except ApiError as error:
        if error.status not in (400, 403, 409, 422):
            raise
        errors: dict[str, str] = {}
        for field, message in error.fields.items():
            name = field.split(".")[0]
            # The service's rule "a return needs a comment" is a body-level 422: it belongs to the comment.
            errors["comment" if name in ("", "body") or "comment" in message else name] = message
        return await _chain_page(
            request,
            person,
            cycle_id,
            manager_id,
            values=values,
            errors=errors or {"_form": error.detail},
            status_code=error.status,
        )
    return see_other("/approvals", notice="approved" if body["action"] == "approve" else "returned")


# --- written feedback and feedback requests (the feedback service) -------------------------------------


def _form_errors(error: ApiError) -> dict[str, str]:
    return {field.split(".")[0]: message for field, message in error.fields.items()} or {"_form": error.detail}


# The form fields that choose from HR's lists (web/values_pages.py), as the feedback service names them.
CHOSEN_FROM_CATALOGUES = ("company_value_id", "competency_id")
# Entries of such a list a page reads at once (HR's lists are far shorter).
CATALOGUE_LIMIT = 200


def _names_by_id(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {str(entry["id"]): str(entry["name"]) for entry in entries}


def _answer_errors(error: ApiError, request_id: str) -> dict[str, str]:
    """An answer's refusals, keyed by the ids of its fields on the requests page (many answer forms on one page):
    a stale company value or competency beside its select, anything else beside the text."""
    selects = {"company_value_id": f"value-{request_id}", "competency_id": f"competency-{request_id}"}
    found: dict[str, str] = {}
    for field, message in error.fields.items():
        found.setdefault(selects.get(field.split(".")[0], request_id), message)
    return found or {request_id: error.detail}


async def _goal_titles(api: Api, goal_ids: list[str]) -> dict[str, str | None]:
    """Titles of the goals feedback is about, as the viewer may read them (None: not for them)."""

    async def one(goal_id: str) -> str | None:
        try:
            return str((await api.get("goals", f"/goals/{quote(goal_id)}"))["title"])
        except (ApiError, httpx.HTTPError):
            return None  # the feedback is still shown when the goals service cannot say

    wanted = list(dict.fromkeys(goal_ids))
    return dict(zip(wanted, await asyncio.gather(*(one(goal_id) for goal_id in wanted)), strict=True))


NOT_YOUR_GOAL = _("Ask about one of your own goals.")


async def _about_goal(api: Api, goal_id: str) -> dict[str, str] | None:
    """The goal a new feedback is about, if the giver may read it."""
    try:
        goal = await api.get("goals", f"/goals/{quote(goal_id)}")
    except ApiError:
        return None
    return {"id": str(goal["id"]), "title": str(goal["title"]), "owner_id": str(goal["owner_id"])}


async def _feedback_page(
    request: Request,
    person: Person,
    *,
    view: str = "received",
    offset: int = 0,
    notice: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    about_goal: dict[str, str] | None = None,
    people_q: str | None = None,
) -> Response:
    api = api_for(request, person)
    view = view if view in ("received", "given", "shared") else "received"
    path = {"received": "/feedback/received", "given": "/feedback/given", "shared": "/feedback/shared-with-me"}[view]
    chosen = (values or {}).get("receiver_ids")
    # Archived entries too: the listed feedback may have chosen one before; the form offers the current ones.
    found, colleagues, company_values, competencies = await asyncio.gather(
        api.get("feedback", path, limit=PAGE, offset=offset),
        people_choice(api, people_q, chosen, leave_out=person.person_id),
        api.get("feedback", "/company-values", include_archived="true", limit=CATALOGUE_LIMIT),
        api.get("feedback", "/competencies", include_archived="true", limit=CATALOGUE_LIMIT),
    )
    names = await api.names([i["giver_id"] for i in found["items"]] + [i["receiver_id"] for i in found["items"]])
    goal_titles = await _goal_titles(api, [str(i["goal_id"]) for i in found["items"] if i.get("goal_id")])
    return renderer(request).page(
        request,
        "feedback.html",
        person,
        items=found["items"],
        view=view,
        names=names,
        colleagues=colleagues,
        company_values=company_values["items"],
        value_names=_names_by_id(company_values["items"]),
        competencies=competencies["items"],
        competency_names=_names_by_id(competencies["items"]),
        goal_titles=goal_titles,
        about_goal=about_goal,
        paging=pages(found["total"], offset),
        base=f"/feedback?{query(view=view)}",
        notice=notice,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@router.get("/feedback", name="feedback")
async def feedback_page(
    request: Request,
    person: SignedIn,
    view: str = "received",
    offset: Annotated[int, Query(ge=0)] = 0,
    notice: str | None = None,
    about_goal: Annotated[str | None, Query(max_length=64)] = None,
    people_q: str | None = None,
    receiver_ids: Chosen = None,
) -> Response:
    """``about_goal`` (from a goal's page): the new feedback is about that goal, to its owner.
    ``people_q``: the receivers to choose from are who matches it; those chosen come back as parameters."""
    about = await _about_goal(api_for(request, person), about_goal) if about_goal else None
    owner = [about["owner_id"]] if about and about["owner_id"] != person.person_id else []
    chosen = person_ids([*owner, *(receiver_ids or [])])
    return await _feedback_page(
        request,
        person,
        view=view,
        offset=offset,
        notice=notice,
        values={"receiver_ids": chosen} if chosen else None,
        about_goal=about,
        people_q=people_q,
    )


@router.post("/feedback", name="feedback_give")
async def feedback_give(request: Request, person: SignedIn, form: CheckedForm) -> Response:
    api = api_for(request, person)
    receivers = [str(value) for value in form.getlist("receiver_ids") if str(value)]
    text = str(form.get("text", "")).strip()
    links = {name: str(form.get(name) or "") or None for name in ("goal_id", *CHOSEN_FROM_CATALOGUES)}
    try:
        await api.post("feedback", "/feedback", json={"receiver_ids": receivers, "text": text, **links})
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        picked = {name: links[name] or "" for name in CHOSEN_FROM_CATALOGUES}
        values = {"receiver_ids": receivers, "text": text, **picked}
        about = await _about_goal(api, links["goal_id"]) if links["goal_id"] else None
        return await _feedback_page(
            request,
            person,
            view="given",
            values=values,
            errors=_form_errors(error),
            status_code=error.status,
            about_goal=about,
        )
    return see_other("/feedback", view="given", notice="given")


@router.post("/feedback/{item_id}/share", name="feedback_share")
async def feedback_share(request: Request, person: SignedIn, item_id: str, form: CheckedForm) -> Response:
    """The receiver shares an item with their manager (``unshare=1``: takes it back)."""
    api = api_for(request, person)
    path = f"/feedback/{quote(item_id)}/share"
    try:
        if form.get("unshare"):
            await api.request("feedback", "DELETE", path)
        else:
            await api.post("feedback", path)
    except ApiError as error:
        if error.status not in (404, 409, 422):
            raise
        return await _feedback_page(request, person, errors={item_id: error.detail}, status_code=error.status)
    return see_other("/feedback", notice="unshared" if form.get("unshare") else "shared")


async def _requests_page(
    request: Request,
    person: Person,
    *,
    offset: int = 0,
    notice: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    people_q: str | None = None,
    about_goal: str | None = None,
) -> Response:
    api = api_for(request, person)
    chosen = (values or {}).get("recipient_ids")
    inbox, sent, colleagues, company_values, competencies = await asyncio.gather(
        api.get("feedback", "/feedback-requests/inbox", status="open", limit=PAGE, offset=offset),
        api.get("feedback", "/feedback-requests", limit=PAGE),
        people_choice(api, people_q, chosen, leave_out=person.person_id),
        api.get("feedback", "/company-values", limit=CATALOGUE_LIMIT),
        api.get("feedback", "/competencies", limit=CATALOGUE_LIMIT),
    )
    goal = await _about_goal(api, about_goal) if about_goal else None
    ids = [e["requester_id"] for e in inbox["items"]]
    ids += [r["person_id"] for s in sent["items"] for r in s["recipients"]]
    names = await api.names(ids)
    goals = [str(i["goal_id"]) for i in [*inbox["items"], *sent["items"]] if i.get("goal_id")]
    goal_titles = await _goal_titles(api, goals)
    return renderer(request).page(
        request,
        "feedback_requests.html",
        person,
        inbox=inbox["items"],
        sent=sent["items"],
        names=names,
        colleagues=colleagues,
        company_values=company_values["items"],
        competencies=competencies["items"],
        # Only one's own goal can be asked about: a colleague's is theirs to ask about.
        about_goal=goal if goal and goal["owner_id"] == person.person_id else None,
        goal_titles=goal_titles,
        paging=pages(inbox["total"], offset),
        base="/feedback/requests?",
        notice=notice,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@router.get("/feedback/requests", name="feedback_requests")
async def feedback_requests_page(
    request: Request,
    person: SignedIn,
    offset: Annotated[int, Query(ge=0)] = 0,
    notice: str | None = None,
    people_q: str | None = None,
    recipient_ids: Chosen = None,
    about_goal: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    """``people_q``: the people to ask are who matches it; those chosen come back as parameters.
    ``about_goal``: the request is about that goal of mine (the goal page links here)."""
    chosen = person_ids(recipient_ids)
    values = {"recipient_ids": chosen} if chosen else None
    return await _requests_page(
        request, person, offset=offset, notice=notice, values=values, people_q=people_q, about_goal=about_goal
    )


@router.post("/feedback/requests", name="feedback_ask")
async def feedback_ask(request: Request, person: SignedIn, form: CheckedForm) -> Response:
    api = api_for(request, person)
    recipients = [str(value) for value in form.getlist("recipient_ids") if str(value)]
    goal_id = str(form.get("goal_id") or "") or None
    body: dict[str, Any] = {
        "recipient_ids": recipients,
        "due_on": str(form.get("due_on", "")).strip(),
        "question": str(form.get("question", "")).strip() or None,
        "goal_id": goal_id,
    }
    try:
        if goal_id is not None and (await _about_goal(api, goal_id) or {}).get("owner_id") != person.person_id:
            raise ApiError(status=422, title="Unprocessable", detail="", fields={"goal_id": NOT_YOUR_GOAL})
        await api.post("feedback", "/feedback-requests", json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        return await _requests_page(
            request, person, values=body, errors=_form_errors(error), status_code=error.status, about_goal=goal_id
        )
    return see_other("/feedback/requests", notice="asked")


@router.post("/feedback/requests/{request_id}/answer", name="feedback_answer")
async def feedback_answer(request: Request, person: SignedIn, request_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    declining = form.get("action") == "decline"
    text = str(form.get("text", "")).strip()
    links = {name: str(form.get(name) or "") or None for name in CHOSEN_FROM_CATALOGUES}
    try:
        if declining:
            await api.post("feedback", f"/feedback-requests/{quote(request_id)}/decline")
        else:
            answer = {"text": text, **links}
            await api.post("feedback", f"/feedback-requests/{quote(request_id)}/answer", json=answer)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        return await _requests_page(
            request,
            person,
            values={
                f"text:{request_id}": text,
                f"value:{request_id}": links["company_value_id"] or "",
                f"competency:{request_id}": links["competency_id"] or "",
            },
            errors=_answer_errors(error, request_id),
            status_code=error.status,
        )
    return see_other("/feedback/requests", notice="declined" if declining else "answered")


# --- 1:1 check-ins (the feedback service) -------------------------------------------------------------

RRULES = ("FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY")


async def _checkins_page(
    request: Request,
    person: Person,
    *,
    offset: int = 0,
    notice: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    series, reports = await asyncio.gather(
        api.get("feedback", "/checkins/series", status="active", limit=PAGE, offset=offset),
        api.get("reviews", f"/people/{person.person_id}/reports", active="true", limit=500),
    )
    names = await api.names([s["manager_id"] for s in series["items"]] + [s["report_id"] for s in series["items"]])
    return renderer(request).page(
        request,
        "checkins.html",
        person,
        series=series["items"],
        reports=reports["items"],
        names=names,
        rrules=RRULES,
        paging=pages(series["total"], offset),
        base="/checkins?",
        notice=notice,
        values=values or {"rrule": RRULES[0], "duration_minutes": "30"},
        errors=errors or {},
        status_code=status_code,
    )


@router.get("/checkins", name="checkins")
async def checkins_page(
    request: Request, person: SignedIn, offset: Annotated[int, Query(ge=0)] = 0, notice: str | None = None
) -> Response:
    return await _checkins_page(request, person, offset=offset, notice=notice)


@router.post("/checkins", name="checkin_start")
async def checkin_start(request: Request, person: SignedIn, form: CheckedForm) -> Response:
    """A manager starts a series with a report; a report starts one with their manager (report_id = me)."""
    api = api_for(request, person)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    body: dict[str, Any] = {
        "report_id": values.get("report_id") or person.person_id,
        "rrule": values.get("rrule", ""),
        "starts_at": values.get("starts_at", ""),
        "duration_minutes": values.get("duration_minutes") or 30,
    }
    try:
        created = await api.post("feedback", "/checkins/series", json=body)
    except ApiError as error:
        if error.status not in (400, 403, 404, 409, 422):
            raise
        return await _checkins_page(
            request, person, values=values, errors=_form_errors(error), status_code=error.status
        )
    return see_other(f"/checkins/{created['id']}", notice="started")
