"""1:1 series in the pages: the series page with the next meeting's agenda, adding to it (a talking point, an
action item, a private note), skip or move one meeting, end the series (the feedback service's
``/checkins/series/{id}/occurrences/{rid}/skip|move`` and ``/checkins/series/{id}/end``), reword a
talking point (``PATCH /checkins/series/{id}/agenda/{item}``), choose the series' agenda template
(``PATCH /checkins/series/{id}``), and the earlier meetings with their agendas (``GET …/occurrences?from=&to=``
and ``GET …/occurrences/{rid}/agenda``), each headed by the template's prompts.

HR keeps the agenda templates on ``/hr/checkin-templates`` (feedback ``/checkins/agenda-templates``): every
template with its prompts, paged; one form adds a template (its prompts typed one per line), one per template
renames it or changes its prompts, a button archives or restores it (``PATCH`` with ``archived``: an archived
template can no longer be chosen, and the series that use it keep its prompts). HR and admins only: the routes
refuse everyone else before feedback is asked.

Only the series' two people may; the service answers everyone else with the same 404 as for a
series that does not exist, and a deactivated person with a 403, and the pages pass both on.
A moved time is typed in the signed-in person's time zone, which need not be the series' zone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from shared.pagination import MAX_OFFSET
from web.api import Api, ApiError
from web.i18n import marked as _
from web.i18n import zone
from web.pages import PAGE, api_for, entry_notice, errors_beside, pages, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person, SignedIn

router = APIRouter()


NO_SUCH = _("There is no such meeting in this series.")
NO_SERIES = _("There is no such 1:1 series.")
NO_TIME = _("Choose the new date and time.")
OUT_OF_ORDER = _("Choose a time in the future, after the previous meeting and before the next one.")
NO_POINT = _("There is no such talking point in this series.")
NOT_AUTHOR = _("Only the person who wrote a talking point can reword it.")
NO_WORDING = _("Write the talking point, in at most 1000 characters.")
NO_TEMPLATE = _("Choose one of the agenda templates, or none.")

MEETINGS_PER_PAGE = 10
POINTS_SHOWN = 10  # of each meeting in the list; its own page has them all
POINTS_PER_PAGE = 20
# The service reads at most 366 days of meetings at once; a window from midnight to midnight
# 365 days apart stays within that even across a daylight-saving change.
WINDOW_DAYS = 365
RECURRENCE_ID = "%Y%m%dT%H%M%SZ"
OCCURRENCES_SHOWN = 6
# HR's templates a series page offers at once (HR keeps far fewer).
TEMPLATES_OFFERED = 200


def _checked_id(raw: str, missing: str) -> str:
    """The id as feedback writes it; one that is none is this page's 404 (``missing`` says of what), not
    feedback's 422 about a path."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise ApiError(status=404, title="Not Found", detail=missing) from None


def _series_id(raw: str) -> str:
    # The service's own answer for a series that is not the caller's: nothing more to tell.
    return _checked_id(raw, NO_SERIES)


def local_start(raw: str, timezone: str | None) -> str | None:
    """A ``datetime-local`` value in the person's zone -> an ISO time with its offset, or None."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    return moment.isoformat()


async def _template_choice(api: Api, series: dict[str, Any]) -> list[dict[str, Any]]:
    """The templates a participant may choose: the current ones, and the series' own even when HR archived it
    (so that saving the form unchanged keeps it)."""
    if series["status"] != "active":
        return []
    offered: list[dict[str, Any]] = (await api.get("feedback", "/checkins/agenda-templates", limit=TEMPLATES_OFFERED))[
        "items"
    ]
    chosen = series.get("agenda_template_id")
    if chosen is not None and all(str(template["id"]) != str(chosen) for template in offered):
        offered.append(await api.get("feedback", f"/checkins/agenda-templates/{quote(str(chosen))}"))
    return offered


async def series_page(
    request: Request,
    person: Person,
    series_id: str,
    *,
    notice: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    path = f"/checkins/series/{quote(series_id)}"
    series = await api.get("feedback", path)
    upcoming = series.get("next_occurrence")
    agenda: dict[str, Any] = {"items": [], "prompts": []}
    actions, notes, templates = await asyncio.gather(
        api.get("feedback", f"{path}/action-items", limit=100),
        api.get("feedback", f"{path}/notes", limit=PAGE),
        _template_choice(api, series),
    )
    if upcoming is not None:
        agenda = await api.get("feedback", f"{path}/occurrences/{quote(upcoming['recurrence_id'])}/agenda", limit=100)
    # The next few meetings (skipped ones too, so a skip can be seen) for skipping or moving one.
    occurrences: list[dict[str, Any]] = []
    if series["status"] == "active":
        occurrences = (await api.get("feedback", f"{path}/occurrences", limit=OCCURRENCES_SHOWN))["items"]
    errors = dict(errors or {})
    shown = {occurrence["recurrence_id"] for occurrence in occurrences}
    for key in [key for key in errors if key.startswith(("occurrence-", "starts_at-"))]:
        # A refusal about a meeting without a form here (the series ended, an unknown one) stands above.
        if key.split("-", 1)[1] not in shown:
            errors.setdefault("_form", errors.pop(key))
    tz = zone(person.timezone)
    for occurrence in occurrences:
        # The move field's value: the meeting's time as the person's own clock shows it.
        occurrence["local"] = datetime.fromisoformat(occurrence["starts_at"]).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    # An action item may still be a previous manager's, until one of the two gives it on.
    owners = [item["owner_id"] for item in actions["items"]]
    names = await api.names([series["manager_id"], series["report_id"], *owners])
    return renderer(request).page(
        request,
        "checkin_series.html",
        person,
        series=series,
        upcoming=upcoming,
        agenda=agenda["items"],
        prompts=agenda["prompts"],
        agenda_templates=templates,
        occurrences=occurrences,
        actions=actions["items"],
        notes=notes["items"],
        names=names,
        notice=notice,
        values=values or {},
        errors=errors,
        status_code=status_code,
    )


@router.get("/checkins/{series_id}", name="checkin_series")
async def checkin_series_page(
    request: Request, person: SignedIn, series_id: str, notice: str | None = None
) -> Response:
    return await series_page(request, person, series_id, notice=notice)


@router.post("/checkins/{series_id}/agenda-template", name="checkin_agenda_template")
async def checkin_agenda_template(request: Request, person: SignedIn, series_id: str, form: CheckedForm) -> Response:
    """Either participant chooses the template whose prompts head every meeting's agenda, or none."""
    checked = _series_id(series_id)
    chosen = str(form.get("agenda_template_id") or "").strip()
    try:
        await api_for(request, person).patch(
            "feedback", f"/checkins/series/{quote(checked)}", json={"agenda_template_id": chosen or None}
        )
    except ApiError as error:
        if error.status not in (400, 409, 422):
            raise
        # 422: not a template, or one HR archived meanwhile; 409: the series has ended, which the service says.
        errors = {"agenda_template_id": NO_TEMPLATE} if error.status != 409 else {"_form": error.detail}
        return await series_page(
            request,
            person,
            checked,
            values={"agenda_template_id": chosen},
            errors=errors,
            status_code=error.status,
        )
    return see_other(f"/checkins/{checked}", notice="template")


def _occurrence_errors(error: ApiError, recurrence_id: str) -> dict[str, str]:
    """The service's refusal beside the meeting's own form (a time that breaks the order) or above them."""
    if error.status == 422 and "starts_at" in error.fields:
        return {f"starts_at-{recurrence_id}": OUT_OF_ORDER}
    if error.status == 404 or "recurrence_id" in error.fields:
        return {f"occurrence-{recurrence_id}": NO_SUCH}
    # 409: the series has ended, the meeting has started, is over or is skipped already; the service says which.
    return {f"occurrence-{recurrence_id}": error.detail}


async def _occurrence_action(
    request: Request,
    person: Person,
    series_id: str,
    recurrence_id: str,
    action: str,
    body: dict[str, str] | None,
    typed: str = "",
) -> Response:
    checked = _series_id(series_id)
    path = f"/checkins/series/{quote(checked)}/occurrences/{quote(recurrence_id, safe='')}/{action}"
    try:
        await api_for(request, person).post("feedback", path, json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        return await series_page(
            request,
            person,
            checked,
            values={f"starts_at-{recurrence_id}": typed},
            errors=_occurrence_errors(error, recurrence_id),
            status_code=error.status,
        )
    return see_other(f"/checkins/{checked}", notice="skipped" if action == "skip" else "moved")


@router.post("/checkins/{series_id}/occurrences/{recurrence_id}/skip", name="checkin_skip")
async def checkin_skip(
    request: Request, person: SignedIn, series_id: str, recurrence_id: str, form: CheckedForm
) -> Response:
    return await _occurrence_action(request, person, series_id, recurrence_id, "skip", None)


@router.post("/checkins/{series_id}/occurrences/{recurrence_id}/move", name="checkin_move")
async def checkin_move(
    request: Request, person: SignedIn, series_id: str, recurrence_id: str, form: CheckedForm
) -> Response:
    typed = str(form.get("starts_at", ""))
    starts_at = local_start(typed, person.timezone)
    if starts_at is None:
        checked = _series_id(series_id)
        return await series_page(
            request,
            person,
            checked,
            values={f"starts_at-{recurrence_id}": typed},
            errors={f"starts_at-{recurrence_id}": NO_TIME},
            status_code=422,
        )
    return await _occurrence_action(request, person, series_id, recurrence_id, "move", {"starts_at": starts_at}, typed)


@router.get("/checkins/{series_id}/calendar.ics", name="checkin_calendar")
async def checkin_calendar(request: Request, person: SignedIn, series_id: str) -> Response:
    """The series for the person's own calendar: feedback writes the file, only for the two people."""
    checked = _series_id(series_id)
    text = await api_for(request, person).text("feedback", f"/checkins/series/{quote(checked)}/calendar")
    disposition = f'attachment; filename="checkin-{checked}.ics"'
    return Response(text, media_type="text/calendar; charset=utf-8", headers={"Content-Disposition": disposition})


@router.get("/checkins/{series_id}/end", name="checkin_end_confirm")
async def checkin_end_confirm(request: Request, person: SignedIn, series_id: str) -> Response:
    """Ending cannot be undone: the series page links here, and only this page's button ends it."""
    checked = _series_id(series_id)
    api = api_for(request, person)
    series = await api.get("feedback", f"/checkins/series/{quote(checked)}")
    names = await api.names([series["manager_id"], series["report_id"]])
    return renderer(request).page(request, "checkin_end.html", person, series=series, names=names)


@router.post("/checkins/{series_id}/end", name="checkin_end")
async def checkin_end(request: Request, person: SignedIn, series_id: str, form: CheckedForm) -> Response:
    checked = _series_id(series_id)
    try:
        await api_for(request, person).post("feedback", f"/checkins/series/{quote(checked)}/end")
    except ApiError as error:
        if error.status != 409:
            raise
        # Ended already (perhaps by the other person a moment ago): the series page says so.
        return await series_page(request, person, checked, errors={"_form": error.detail}, status_code=409)
    return see_other("/checkins", notice="ended")


def _reword_errors(error: ApiError, field: str) -> dict[str, str]:
    """Beside the talking point's own form, or above the page when it has none for this person."""
    if error.status == 403:
        return {"_form": NOT_AUTHOR}
    if error.status == 404:
        return {"_form": NO_POINT}
    if error.status == 409:
        # The series has ended, or a participant's keys were erased: the service says which.
        return {field: error.detail}
    return {field: NO_WORDING}


async def _reword(api: Api, series_id: str, item_id: str, text: str) -> ApiError | None:
    try:
        item = str(UUID(item_id))
    except ValueError:
        return ApiError(status=404, title="Not Found", detail=NO_POINT)
    if not text:
        return ApiError(status=422, title="Unprocessable Content", detail=NO_WORDING)
    try:
        await api.patch("feedback", f"/checkins/series/{quote(series_id)}/agenda/{quote(item)}", json={"text": text})
    except ApiError as error:
        if error.status not in (400, 403, 404, 409, 422):
            raise
        return error
    return None


@router.post("/checkins/{series_id}/agenda/{item_id}/reword", name="checkin_reword")
async def checkin_reword(
    request: Request, person: SignedIn, series_id: str, item_id: str, form: CheckedForm
) -> Response:
    """The service lets only a talking point's author reword it; the page offers the form to them alone."""
    checked = _series_id(series_id)
    typed = str(form.get("text", ""))
    error = await _reword(api_for(request, person), checked, item_id, typed.strip())
    if error is None:
        return see_other(f"/checkins/{checked}", notice="reworded")
    field = f"reword-{item_id}"
    return await series_page(
        request,
        person,
        checked,
        values={field: typed},
        errors=_reword_errors(error, field),
        status_code=error.status,
    )


@dataclass(frozen=True)
class Window:
    """The days of earlier meetings one page looks at, in the person's time zone."""

    start: datetime
    end: datetime  # exclusive: the window's last midnight, or earlier so that only meetings over are in it
    first_day: date
    last_day: date
    until: date | None  # as asked for; None: the window that ends today
    older: date | None  # ``until`` of the window before this one, if the series began before it
    newer: str | None  # ``until`` of the window after it ("" for the one ending today); None: no later one


def _day(raw: str | None) -> date | None:
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    # Far back enough for any series, and far from the calendar's edge for the window's arithmetic.
    return day if day.year >= 1970 else None


def earlier_window(series: dict[str, Any], timezone: str | None, until: str | None, now: datetime) -> Window:
    tz = zone(timezone)
    # A meeting that started less than its length ago is not over: the series page still shows it.
    over = now - timedelta(minutes=int(series["duration_minutes"]))
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    asked = _day(until)
    if asked is not None and asked >= tomorrow:
        asked = None
    last = asked or tomorrow
    first = last - timedelta(days=WINDOW_DAYS)
    start = datetime.combine(first, time(), tzinfo=tz)
    began = datetime.fromisoformat(series["first_start"])
    newer: str | None = None
    if asked is not None:
        following = asked + timedelta(days=WINDOW_DAYS)
        newer = following.isoformat() if following < tomorrow else ""
    return Window(
        start=start,
        end=min(datetime.combine(last, time(), tzinfo=tz), over),
        first_day=first,
        last_day=last - timedelta(days=1),
        until=asked,
        older=first if began < start else None,
        newer=newer,
    )


async def _earlier(api: Api, path: str, window: Window, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the window's meetings, newest first (the service lists them oldest first)."""
    if window.end <= window.start:
        return [], 0
    span = {"from": window.start.isoformat(), "to": window.end.isoformat()}
    total = int((await api.get("feedback", f"{path}/occurrences", limit=1, **span))["total"])
    count = min(MEETINGS_PER_PAGE, total - offset)
    if count <= 0:
        return [], total
    found = await api.get("feedback", f"{path}/occurrences", limit=count, offset=total - offset - count, **span)
    return list(reversed(found["items"])), total


async def _agendas(api: Api, path: str, meetings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async def one(meeting: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = await api.get(
            "feedback", f"{path}/occurrences/{quote(meeting['recurrence_id'])}/agenda", limit=POINTS_SHOWN
        )
        return found

    if not meetings:
        return []
    # The first read of an active series' agenda moves the points left open on to the next meeting
    # (a write); after it the other reads write nothing and may run side by side.
    first = await one(meetings[0])
    return [first, *await asyncio.gather(*(one(meeting) for meeting in meetings[1:]))]


@router.get("/checkins/{series_id}/meetings", name="checkin_meetings")
async def checkin_meetings(
    request: Request,
    person: SignedIn,
    series_id: str,
    until: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The meetings that are over, newest first, each with its agenda, a year of them at a time."""
    checked = _series_id(series_id)
    api = api_for(request, person)
    path = f"/checkins/series/{quote(checked)}"
    series = await api.get("feedback", path)
    window = earlier_window(series, person.timezone, until, datetime.now(UTC))
    meetings, total = await _earlier(api, path, window, offset)
    agendas = await _agendas(api, path, meetings)
    for meeting, agenda in zip(meetings, agendas, strict=True):
        meeting["agenda"] = agenda
    authors = [point["author_id"] for agenda in agendas for point in agenda["items"]]
    names = await api.names([series["manager_id"], series["report_id"], *authors])
    base = f"/checkins/{checked}/meetings?" + (f"until={window.until.isoformat()}" if window.until else "")
    return renderer(request).page(
        request,
        "checkin_meetings.html",
        person,
        series=series,
        window=window,
        meetings=meetings,
        names=names,
        paging=pages(total, offset, MEETINGS_PER_PAGE),
        base=base,
    )


@router.get("/checkins/{series_id}/meetings/{recurrence_id}", name="checkin_meeting")
async def checkin_meeting(
    request: Request,
    person: SignedIn,
    series_id: str,
    recurrence_id: str,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """All talking points of one meeting, a page at a time."""
    checked = _series_id(series_id)
    api = api_for(request, person)
    path = f"/checkins/series/{quote(checked)}"
    series = await api.get("feedback", path)
    try:
        agenda = await api.get(
            "feedback",
            f"{path}/occurrences/{quote(recurrence_id, safe='')}/agenda",
            limit=POINTS_PER_PAGE,
            offset=offset,
        )
    except ApiError as error:
        if error.status not in (404, 422):
            raise
        # Not a meeting's name at all, or one the series never had: the same answer.
        raise ApiError(status=404, title="Not Found", detail=NO_SUCH) from None
    planned = datetime.strptime(recurrence_id, RECURRENCE_ID).replace(tzinfo=UTC)
    names = await api.names([series["manager_id"], series["report_id"], *(p["author_id"] for p in agenda["items"])])
    return renderer(request).page(
        request,
        "checkin_meeting.html",
        person,
        series=series,
        recurrence_id=recurrence_id,
        planned=planned,
        agenda=agenda["items"],
        prompts=agenda["prompts"],
        names=names,
        paging=pages(agenda["total"], offset, POINTS_PER_PAGE),
        base=f"/checkins/{checked}/meetings/{quote(recurrence_id, safe='')}?",
    )


# --- HR's agenda templates ---------------------------------------------------------------------------------

TEMPLATES_ADDRESS = "/hr/checkin-templates"
TEMPLATE_FIELDS = ("name", "prompts")
NEW = "new"  # the add form's prefix of its fields' names, values and errors; an edit form's is its template's id

ENTER_A_NAME = _("Enter a name.")
ENTER_PROMPTS = _("Write at least one prompt, one per line.")
PROMPTS_RULE = _("Write 1 to 10 prompts, one per line, each at most 200 characters and none twice.")
TEMPLATE_NAME_TAKEN = _("Another agenda template has this name already (in any case).")
NO_SUCH_TEMPLATE = _("There is no such agenda template.")


def _template_id(raw: str) -> str:
    return _checked_id(raw, NO_SUCH_TEMPLATE)


def prompt_lines(text: str) -> list[str]:
    """The prompts typed one per line; blank lines are none."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _posted_offset(form: FormData) -> int:
    """The page of templates the form was on, so that a post comes back to it (anything else is the first)."""
    try:
        offset = int(str(form.get("offset") or 0))
    except ValueError:
        return 0
    return offset if 0 <= offset <= MAX_OFFSET else 0


def _template_errors(error: ApiError) -> dict[str, str]:
    if error.status == 409:
        return {"name": TEMPLATE_NAME_TAKEN}
    found = errors_beside(error, TEMPLATE_FIELDS)
    if "prompts" in found:
        # Feedback names a prompt by its place in the list, which blank lines shift: the rule says more.
        found["prompts"] = PROMPTS_RULE
    return found


async def _template_notice(api: Api, notice: str | None, template: str | None) -> dict[str, str] | None:
    if not template:
        return None
    return await entry_notice(api, notice, f"/checkins/agenda-templates/{_template_id(template)}")


async def _templates_page(
    request: Request,
    person: Person,
    *,
    offset: int,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    listing = await api_for(request, person).get(
        "feedback", "/checkins/agenda-templates", include_archived="true", limit=PAGE, offset=offset
    )
    return renderer(request).page(
        request,
        "checkin_templates.html",
        person,
        address=TEMPLATES_ADDRESS,
        templates=listing["items"],
        paging=pages(listing["total"], offset),
        base=f"{TEMPLATES_ADDRESS}?",
        offset=offset,
        values=values or {},
        errors=errors or {},
        notice=notice,
        status_code=status_code,
    )


@router.get(TEMPLATES_ADDRESS, name="checkin_templates")
async def checkin_templates(
    request: Request,
    person: HRPerson,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    notice: Annotated[str | None, Query(max_length=10)] = None,
    template: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """``notice`` with ``template``: what the last post did to which template."""
    said = await _template_notice(api_for(request, person), notice, template)
    return await _templates_page(request, person, offset=offset, notice=said)


def _back_to_templates(template_id: object, done: str, offset: int) -> Response:
    return see_other(TEMPLATES_ADDRESS, notice=done, template=str(template_id), offset=offset or None)


async def _save_template(request: Request, person: Person, form: FormData, template_id: str | None) -> Response:
    """Adds a template (no ``template_id``) or renames it and replaces its prompts: the form sends both. Refused:
    the page again with the message beside the field and what was typed."""
    prefix = NEW if template_id is None else _template_id(template_id)
    typed = {name: str(form.get(name) or "") for name in TEMPLATE_FIELDS}
    body = {"name": typed["name"].strip(), "prompts": prompt_lines(typed["prompts"])}
    offset = _posted_offset(form)
    # Refused before feedback is asked: feedback would too, in its own (English) words.
    errors = {name: message for name, message in (("name", ENTER_A_NAME), ("prompts", ENTER_PROMPTS)) if not body[name]}
    status_code = 422
    if not errors:
        path = "/checkins/agenda-templates" + ("" if template_id is None else f"/{prefix}")
        try:
            saved = await api_for(request, person).request(
                "feedback", "POST" if template_id is None else "PATCH", path, json=body
            )
        except ApiError as error:
            if error.status not in (400, 409, 422):
                raise
            status_code, errors = error.status, _template_errors(error)
        else:
            return _back_to_templates(saved["id"], "added" if template_id is None else "saved", offset)
    return await _templates_page(
        request,
        person,
        offset=offset,
        values={f"{prefix}-{name}": value for name, value in typed.items()},
        errors={f"{prefix}-{name}": message for name, message in errors.items()},
        status_code=status_code,
    )


@router.post(TEMPLATES_ADDRESS, name="checkin_template_add")
async def checkin_template_add(request: Request, person: HRPerson, form: CheckedForm) -> Response:
    return await _save_template(request, person, form, None)


@router.post(TEMPLATES_ADDRESS + "/{template_id}", name="checkin_template_edit")
async def checkin_template_edit(request: Request, person: HRPerson, template_id: str, form: CheckedForm) -> Response:
    return await _save_template(request, person, form, template_id)


async def _set_archived(request: Request, person: Person, form: FormData, template_id: str, archived: bool) -> Response:
    # PATCH rather than DELETE for archiving too: one call that goes both ways. Pressed twice (or after
    # another HR person) it changes nothing and says the same.
    path = f"/checkins/agenda-templates/{_template_id(template_id)}"
    saved = await api_for(request, person).patch("feedback", path, json={"archived": archived})
    return _back_to_templates(saved["id"], "archived" if archived else "restored", _posted_offset(form))


@router.post(TEMPLATES_ADDRESS + "/{template_id}/archive", name="checkin_template_archive")
async def checkin_template_archive(request: Request, person: HRPerson, template_id: str, form: CheckedForm) -> Response:
    return await _set_archived(request, person, form, template_id, archived=True)


@router.post(TEMPLATES_ADDRESS + "/{template_id}/restore", name="checkin_template_restore")
async def checkin_template_restore(request: Request, person: HRPerson, template_id: str, form: CheckedForm) -> Response:
    return await _set_archived(request, person, form, template_id, archived=False)


# --- adding to the next meeting (last: its address would take every other POST /checkins/{id}/...) --------


@router.post("/checkins/{series_id}/{what}", name="checkin_add")
async def checkin_add(request: Request, person: SignedIn, series_id: str, what: str, form: CheckedForm) -> Response:
    """Add to the next meeting: a talking point (``agenda``), an action item (``actions``), my private note
    (``notes``); or mark a talking point covered (``covered``), an action item done (``done``) or give it to
    the other participant (``owner``: also an item a previous manager still holds)."""
    api = api_for(request, person)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    path = f"/checkins/series/{quote(series_id)}"
    occurrence = quote(values.get("recurrence_id", ""))
    item = quote(values.get("item_id", ""))
    calls: dict[str, tuple[str, str, dict[str, Any]]] = {
        "agenda": ("POST", f"{path}/occurrences/{occurrence}/agenda", {"text": values.get("text", "").strip()}),
        "notes": ("POST", f"{path}/occurrences/{occurrence}/notes", {"text": values.get("note", "").strip()}),
        "actions": (
            "POST",
            f"{path}/occurrences/{occurrence}/action-items",
            {
                "title": values.get("title", "").strip(),
                "owner_id": values.get("owner_id", ""),
                "due_on": values.get("due_on") or None,
            },
        ),
        "covered": ("PATCH", f"{path}/agenda/{item}", {"covered": True}),
        "done": ("PATCH", f"{path}/action-items/{item}", {"done": True}),
        "owner": ("PATCH", f"{path}/action-items/{item}", {"owner_id": values.get("owner_id", "")}),
    }
    if what not in calls:
        return renderer(request).page(request, "error.html", person, status_code=404, message_key="not_found")
    method, target, body = calls[what]
    try:
        await api.request("feedback", method, target, json=body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        # Each form's field is named after the form, so the message stands beside the right one.
        field = {"agenda": "text", "notes": "note", "actions": "title"}.get(what, "_form")
        errors = {field: next(iter(error.fields.values()), None) or error.detail}
        for name, message in error.fields.items():
            if name.split(".")[0] in ("owner_id", "due_on"):
                errors = {name.split(".")[0]: message}
        return await series_page(request, person, series_id, values=values, errors=errors, status_code=error.status)
    return see_other(f"/checkins/{series_id}", notice=what)
