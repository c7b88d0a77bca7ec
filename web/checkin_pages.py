"""1:1 series actions in the pages: skip or move one meeting, end the series (the feedback service's
``/checkins/series/{id}/occurrences/{rid}/skip|move`` and ``/checkins/series/{id}/end``).

Only the series' two people may; the service answers everyone else with the same 404 as for a
series that does not exist, and a deactivated person with a 403, and the pages pass both on.
A moved time is typed in the signed-in person's time zone, which need not be the series' zone.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.api import ApiError
from web.i18n import zone
from web.pages import _series_page, api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, Person, SignedIn

router = APIRouter()


def _(message: str) -> str:
    """Marks a message for the catalogue (tests/web/test_units.py finds it); the page translates it."""
    return message


NO_SUCH = _("There is no such meeting in this series.")
NO_SERIES = _("There is no such 1:1 series.")
NO_TIME = _("Choose the new date and time.")
OUT_OF_ORDER = _("Choose a time in the future, after the previous meeting and before the next one.")


def _series_id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        # The service's own answer for a series that is not the caller's: nothing more to tell.
        raise ApiError(status=404, title="Not Found", detail=NO_SERIES) from None


def local_start(raw: str, timezone: str | None) -> str | None:
    """A ``datetime-local`` value in the person's zone -> an ISO time with its offset, or None."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    return moment.isoformat()


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
        return await _series_page(
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
        return await _series_page(
            request,
            person,
            checked,
            values={f"starts_at-{recurrence_id}": typed},
            errors={f"starts_at-{recurrence_id}": NO_TIME},
            status_code=422,
        )
    return await _occurrence_action(request, person, series_id, recurrence_id, "move", {"starts_at": starts_at}, typed)


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
        return await _series_page(request, person, checked, errors={"_form": error.detail}, status_code=409)
    return see_other("/checkins", notice="ended")
