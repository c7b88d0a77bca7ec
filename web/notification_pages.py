"""My notification settings (the notifications component's ``/notification-preferences/me``).

For each kind of mail: receive it or not, and for the digest kinds, in the daily digest or at once;
the digest's hour; and quiet hours in which nothing is mailed at once. The page every mail links to.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.api import ApiError
from web.i18n import marked as _
from web.pages import api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, Person, SignedIn

router = APIRouter()

PREFERENCES = "/notification-preferences/me"
BOTH_HOURS = _("Choose both hours, or neither for no quiet hours.")


def _hour(raw: object) -> str:
    return str(raw or "").strip()


async def _notifications_page(
    request: Request,
    person: Person,
    *,
    notice: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    current = await api_for(request, person).get("notifications", PREFERENCES)
    if values is None:
        quiet = current.get("quiet_hours") or {}
        values = {
            "digest_hour": "" if current["digest_hour"] is None else str(current["digest_hour"]),
            "receive": [kind for kind in current["optional_kinds"] if kind not in current["opted_out"]],
            "at_once": list(current.get("at_once") or []),
            "quiet_start": str(quiet["start"]) if quiet else "",
            "quiet_end": str(quiet["end"]) if quiet else "",
        }
    return renderer(request).page(
        request,
        "notifications.html",
        person,
        current=current,
        values=values,
        hours=range(24),
        notice=notice,
        errors=errors or {},
        status_code=status_code,
    )


@router.get("/notifications", name="notifications")
async def notifications_page(request: Request, person: SignedIn, saved: str | None = None) -> Response:
    """The address every mail links to: which mails I get, when, and when not."""
    return await _notifications_page(request, person, notice="saved" if saved else None)


@router.post("/notifications", name="notifications_save")
async def notifications_save(request: Request, person: SignedIn, form: CheckedForm) -> Response:
    api = api_for(request, person)
    current = await api.get("notifications", PREFERENCES)
    receive = [str(value) for value in form.getlist("receive")]
    values: dict[str, Any] = {
        "digest_hour": _hour(form.get("digest_hour")),
        "receive": receive,
        # A kind not received is not mailed at once either: the box means nothing then.
        "at_once": [str(value) for value in form.getlist("at_once") if str(value) in receive],
        "quiet_start": _hour(form.get("quiet_start")),
        "quiet_end": _hour(form.get("quiet_end")),
    }
    if bool(values["quiet_start"]) != bool(values["quiet_end"]):
        errors = {"quiet_start" if not values["quiet_start"] else "quiet_end": BOTH_HOURS}
        return await _notifications_page(request, person, values=values, errors=errors, status_code=422)
    # The form lists the kinds one may receive; the service stores the ones left out.
    body: dict[str, Any] = {
        "digest_hour": values["digest_hour"] or None,
        "opted_out": [kind for kind in current["optional_kinds"] if kind not in receive],
        "at_once": values["at_once"],
        "quiet_hours": (
            {"start": values["quiet_start"], "end": values["quiet_end"]} if values["quiet_start"] else None
        ),
    }
    try:
        await api.put("notifications", PREFERENCES, json=body)
    except ApiError as error:
        if error.status not in (400, 422):
            raise
        errors = {}
        for field, message in error.fields.items():
            name = field.split(".")[0]
            errors.setdefault("quiet_start" if name == "quiet_hours" else name, message)
        return await _notifications_page(
            request, person, values=values, errors=errors or {"_form": error.detail}, status_code=error.status
        )
    return see_other("/notifications", saved="1")
