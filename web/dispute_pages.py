"""Disputing a final rating after the acknowledgement (the reviews service's ``POST /disputes``).

The acknowledgement form has its own "I dispute the rating" box. Once it is submitted without
it, the employee has 30 days in which this page, linked from the done acknowledgement, still
takes a dispute with a reason; afterwards it shows the dispute and HR's answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.api import Api, ApiError
from web.i18n import marked as _
from web.pages import api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, Person, SignedIn

router = APIRouter()

# The reviews service's window (services.reviews.cycles.service.LATE_DISPUTE_DAYS); the service decides.
LATE_DISPUTE_DAYS = 30
NOT_YOURS = _("There is no such acknowledgement of yours.")
REFUSALS = {
    "dispute_exists": _("Your rating is disputed already."),
    "acknowledgement_open": _("Your acknowledgement is still open: dispute the rating on it."),
    "dispute_window_closed": _("The 30 days in which the rating could be disputed are over."),
}
SAY_WHY = _("Say why you disagree, in at most 5000 characters.")


async def _acknowledgement(api: Api, person: Person, task_id: str) -> dict[str, Any] | None:
    """The person's own done acknowledgement, or None (another's, another step, none at all)."""
    try:
        found = await api.get("reviews", f"/tasks/{quote(task_id, safe='')}")
    except ApiError as error:
        if error.status in (403, 404, 422):
            return None
        raise
    task: dict[str, Any] = found["task"]
    if task["step"] != "acknowledgement" or task["person_id"] != person.person_id or task["status"] != "done":
        return None
    return task


async def _dispute_of(api: Api, person: Person, task: dict[str, Any]) -> dict[str, Any] | None:
    found = await api.get("reviews", "/disputes", person_id=person.person_id, cycle_id=task["cycle_id"], limit=50)
    return next((item for item in found["items"] if item["task_id"] == task["id"]), None)


async def _page(
    request: Request,
    person: Person,
    task_id: str,
    *,
    reason: str = "",
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    task = await _acknowledgement(api, person, task_id)
    if task is None:
        raise ApiError(status=404, title="Not Found", detail=NOT_YOURS)
    completed = datetime.fromisoformat(task["completed_at"])
    return renderer(request).page(
        request,
        "dispute_late.html",
        person,
        task=task,
        dispute=await _dispute_of(api, person, task),
        until=completed + timedelta(days=LATE_DISPUTE_DAYS),
        reason=reason,
        errors=errors or {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/tasks/{task_id}/dispute", name="dispute_late")
async def dispute_page(request: Request, person: SignedIn, task_id: str, sent: str | None = None) -> Response:
    return await _page(request, person, task_id, notice="sent" if sent else None)


@router.post("/tasks/{task_id}/dispute", name="dispute_late_raise")
async def dispute_raise(request: Request, person: SignedIn, task_id: str, form: CheckedForm) -> Response:
    reason = str(form.get("reason") or "")
    if not reason.strip() or len(reason.strip()) > 5000:
        return await _page(request, person, task_id, reason=reason, errors={"reason": SAY_WHY}, status_code=422)
    try:
        await api_for(request, person).post("reviews", "/disputes", json={"task_id": task_id, "reason": reason})
    except ApiError as error:
        if error.status == 409:
            message = REFUSALS.get(error.reason or "", error.detail)
            return await _page(request, person, task_id, reason=reason, errors={"_form": message}, status_code=409)
        if error.status == 422:
            return await _page(request, person, task_id, reason=reason, errors={"reason": SAY_WHY}, status_code=422)
        if error.status != 404:
            raise
        return await _page(request, person, task_id, status_code=404)
    return see_other(f"/tasks/{quote(task_id, safe='')}/dispute", sent="1")
