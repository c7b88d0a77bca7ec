"""Upward feedback in the pages: answer the open pulses about one's manager, read one's own results,
and (HR) list every pulse, open a standalone one, give more time, close or cancel one. Everything
goes through the feedback service with the person's token.

A manager's results page never shows how many answered: below k the service releases nothing
and says so in the same words for "below k" and "nobody", and the page keeps it that way.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from web.api import ApiError
from web.i18n import marked as _
from web.i18n import zone
from web.pages import PAGE, _deadline, api_for, pages, query, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person, SignedIn

router = APIRouter()

SCALE = (1, 2, 3, 4, 5)
# The newest released results listed on /upward; older ones are a page of the API away.
RESULTS_SHOWN = 20
PULSE_STATUSES = ("open", "closed", "cancelled")


# The service's problem ``reason`` (or status) -> the page's message (an English msgid).
REASONS = {
    "task_done": _("You have answered this upward feedback already; answers are taken once."),
    "too_late": _("This upward feedback has closed; it takes no more answers."),
    "no_manager": _("You have no manager to give upward feedback to."),
    "pulse_closed": _("This upward feedback has closed; its results are out."),
    "pulse_cancelled": _("This upward feedback was cancelled."),
}
STATUSES = {
    403: _("You are not asked to answer this upward feedback."),
    404: _("There is no such upward feedback."),
}
RATING_ERROR = _("Choose a rating from 1 to 5.")


def _message(error: ApiError) -> str:
    if error.reason in REASONS:
        return REASONS[error.reason]
    if "rating" in error.fields:
        return RATING_ERROR
    if error.fields:
        return next(iter(error.fields.values()))
    return STATUSES.get(error.status, error.detail)


def _pulse_id(raw: str) -> str | None:
    try:
        return str(UUID(raw))
    except ValueError:
        return None


async def _upward_page(
    request: Request,
    person: Person,
    *,
    notice: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    pulses = await api.get("feedback", "/upward-feedback/inbox")
    # The results released about the person as a manager: where the "results ready" mails led.
    released = await api.get("feedback", "/upward-feedback/results", limit=RESULTS_SHOWN)
    errors = errors or {}
    with_form = {str(pulse["id"]) for pulse in pulses if not pulse["answered"]}
    # An error about a pulse without a form here (closed, answered already) stands above the list.
    general = next((message for key, message in errors.items() if key not in with_form and key != "_form"), None)
    return renderer(request).page(
        request,
        "upward.html",
        person,
        pulses=pulses,
        released=released,
        scale=SCALE,
        notice=notice,
        values=values or {},
        errors=errors,
        general=errors.get("_form") or general,
        status_code=status_code,
    )


@router.get("/upward", name="upward")
async def upward_page(request: Request, person: SignedIn, notice: str | None = None) -> Response:
    return await _upward_page(request, person, notice=notice)


@router.post("/upward/{pulse_id}", name="upward_answer")
async def upward_answer(request: Request, person: SignedIn, pulse_id: str, form: CheckedForm) -> Response:
    raw_rating = str(form.get("rating", "")).strip()
    comment = str(form.get("comment", "")).strip()
    values = {f"rating:{pulse_id}": raw_rating, f"comment:{pulse_id}": comment}
    checked = _pulse_id(pulse_id)
    if checked is None:
        return await _upward_page(request, person, errors={pulse_id: STATUSES[404]}, status_code=404)
    if not raw_rating.isdigit():
        # The scale is radio buttons: nothing chosen is the one mistake the browser lets through.
        return await _upward_page(request, person, values=values, errors={checked: RATING_ERROR}, status_code=422)
    body = {"rating": int(raw_rating), "comment": comment or None}
    try:
        await api_for(request, person).post("feedback", f"/upward-feedback/{quote(checked)}/answers", json=body)
    except ApiError as error:
        if error.status not in (400, 403, 404, 409, 422):
            raise
        return await _upward_page(
            request, person, values=values, errors={checked: _message(error)}, status_code=error.status
        )
    return see_other("/upward", notice="answered")


@router.get("/upward/{pulse_id}/results", name="upward_results")
async def upward_results(request: Request, person: SignedIn, pulse_id: str, notice: str | None = None) -> Response:
    """The signed-in person's own aggregate as a manager; HR also sees the org units' aggregates."""
    return await _results_page(request, person, pulse_id, notice=notice)


async def _results_page(
    request: Request,
    person: Person,
    pulse_id: str,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    closes_on: str = "",
    status_code: int = 200,
) -> Response:
    checked = _pulse_id(pulse_id)
    if checked is None:
        raise ApiError(status=404, title="Not Found", detail=STATUSES[404])
    api = api_for(request, person)
    pulse = await api.get("feedback", f"/upward-feedback/{quote(checked)}")
    result: dict[str, Any] | None = None
    units: list[dict[str, Any]] = []
    if pulse["status"] == "closed":
        result = await api.get("feedback", f"/upward-feedback/{quote(checked)}/results/me")
        if person.is_hr:
            units = await api.get("feedback", f"/upward-feedback/{quote(checked)}/results/org-units")
    return renderer(request).page(
        request,
        "upward_results.html",
        person,
        pulse=pulse,
        result=result,
        units=units,
        notice=notice,
        errors=errors or {},
        closes_on=closes_on,
        status_code=status_code,
    )


@router.post("/hr/upward/{pulse_id}/close", name="upward_close")
async def upward_close(request: Request, person: HRPerson, pulse_id: str, form: CheckedForm) -> Response:
    """Closes an open pulse before its time and releases what reached k (the feedback service's close)."""
    checked = _pulse_id(pulse_id)
    if checked is None:
        raise ApiError(status=404, title="Not Found", detail=STATUSES[404])
    try:
        await api_for(request, person).post("feedback", f"/upward-feedback/{quote(checked)}/close")
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return await _results_page(
            request, person, checked, errors={"close": _message(error)}, status_code=error.status
        )
    return see_other(f"/upward/{checked}/results", notice="closed")


@router.post("/hr/upward/{pulse_id}/extend", name="upward_extend")
async def upward_extend(request: Request, person: HRPerson, pulse_id: str, form: CheckedForm) -> Response:
    """Moves an open pulse's close later: a date means the end of that working day in HR's time zone."""
    checked = _pulse_id(pulse_id)
    if checked is None:
        raise ApiError(status=404, title="Not Found", detail=STATUSES[404])
    raw = str(form.get("closes_on", "")).strip()
    closes_at = _deadline(raw, zone(person.timezone))
    if closes_at is None:
        errors = {"closes_on": _("Choose the day it closes.")}
        return await _results_page(request, person, checked, errors=errors, closes_on=raw, status_code=422)
    try:
        await api_for(request, person).post(
            "feedback", f"/upward-feedback/{quote(checked)}/extend", json={"closes_at": closes_at}
        )
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        message = error.fields.get("closes_at") or _message(error)
        return await _results_page(
            request, person, checked, errors={"closes_on": message}, closes_on=raw, status_code=error.status
        )
    return see_other(f"/upward/{checked}/results", notice="extended")


@router.get("/hr/upward/{pulse_id}/cancel", name="upward_cancel_confirm")
async def upward_cancel_confirm(request: Request, person: HRPerson, pulse_id: str) -> Response:
    """Cancelling cannot be undone and deletes the answers: the results page links here, and only this
    page's button cancels."""
    checked = _pulse_id(pulse_id)
    if checked is None:
        raise ApiError(status=404, title="Not Found", detail=STATUSES[404])
    pulse = await api_for(request, person).get("feedback", f"/upward-feedback/{quote(checked)}")
    return renderer(request).page(request, "upward_cancel.html", person, pulse=pulse)


@router.post("/hr/upward/{pulse_id}/cancel", name="upward_cancel")
async def upward_cancel(request: Request, person: HRPerson, pulse_id: str, form: CheckedForm) -> Response:
    """Ends an open pulse without any release (the feedback service deletes its answers)."""
    checked = _pulse_id(pulse_id)
    if checked is None:
        raise ApiError(status=404, title="Not Found", detail=STATUSES[404])
    try:
        await api_for(request, person).post("feedback", f"/upward-feedback/{quote(checked)}/cancel")
    except ApiError as error:
        if error.status != 409:
            raise
        # Closed or cancelled meanwhile (the sweep, another HR person): the results page says which.
        return await _results_page(
            request, person, checked, errors={"close": _message(error)}, status_code=error.status
        )
    return see_other(f"/upward/{checked}/results", notice="cancelled")


# --- HR: a standalone pulse -----------------------------------------------------------------------


async def _hr_page(
    request: Request,
    person: Person,
    *,
    status: str | None = None,
    offset: int = 0,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: str | None = None,
    status_code: int = 200,
) -> Response:
    """Every pulse, newest first (the feedback service's list: the pulses themselves, never a count of
    answers), and the form that opens a standalone one."""
    status = status if status in PULSE_STATUSES else None
    found = await api_for(request, person).get("feedback", "/upward-feedback", status=status, limit=PAGE, offset=offset)
    return renderer(request).page(
        request,
        "upward_new.html",
        person,
        pulses=found["items"],
        status=status,
        statuses=PULSE_STATUSES,
        paging=pages(found["total"], offset),
        base=f"/hr/upward?{query(status=status)}",
        values=values or {"min_raters": "3"},
        errors=errors or {},
        created=created,
        status_code=status_code,
    )


@router.get("/hr/upward", name="upward_new")
async def upward_new(
    request: Request,
    person: HRPerson,
    created: str | None = None,
    status: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    shown = _pulse_id(created) if created else None
    return await _hr_page(request, person, status=status, offset=offset, created=shown)


@router.post("/hr/upward", name="upward_create")
async def upward_create(request: Request, person: HRPerson, form: CheckedForm) -> Response:
    values = {key: str(form.get(key, "")).strip() for key in ("title", "closes_on", "min_raters")}
    errors: dict[str, str] = {}
    # A date means 17:00 that day in HR's time zone, as the cycle deadlines.
    closes_at = _deadline(values["closes_on"], zone(person.timezone))
    if closes_at is None:
        errors["closes_on"] = _("Choose the day it closes.")
    if not errors:
        body = {"title": values["title"], "closes_at": closes_at, "min_raters": values["min_raters"] or 3}
        try:
            created = await api_for(request, person).post("feedback", "/upward-feedback", json=body)
        except ApiError as error:
            if error.status not in (400, 409, 422):
                raise
            for field, message in error.fields.items():
                errors["closes_on" if field == "closes_at" else field.split(".")[0]] = message
            if not errors:
                errors["_form"] = error.detail
        else:
            return see_other("/hr/upward", created=created["id"])
    return await _hr_page(request, person, values=values, errors=errors, status_code=422)
