"""A person's 1:1s as a calendar subscription (the feedback service's ``/checkins/calendar-feed``).

``/calendar`` says whether the person has an address, makes a new one (shown this once: the service
keeps only a digest of its secret) and stops it. ``/calendar/{secret}.ics`` is what a calendar
application polls: it cannot sign in, so the secret in the address is the credential, and the web
app hands it to the service in a header, never in a URL of its own requests. The access log of the
web process writes the address without the secret (``redacted_access_log``).
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.api import Services
from web.pages import api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, SignedIn

router = APIRouter()

FEED = "/checkins/calendar-feed"
CALENDAR = "text/calendar; charset=utf-8"
# What the service hands out (secrets.token_urlsafe(32): 43 characters); anything else is no address.
SECRET = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
SECRET_IN_PATH = re.compile(r"^(/calendar/)[^/?#]+(\.ics)")


class RedactedAccessLog(logging.Filter):
    """uvicorn's access log line for a subscription address, without the secret in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and args[2].startswith("/calendar/"):
            record.args = (*args[:2], SECRET_IN_PATH.sub(r"\1…\2", args[2]), *args[3:])
        return True


def redacted_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(found, RedactedAccessLog) for found in access.filters):
        access.addFilter(RedactedAccessLog())


def _address(request: Request, secret: str) -> str:
    public = request.app.state.web_settings.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}/calendar/{secret}.ics"


async def _page(
    request: Request, person: SignedIn, *, address: str | None = None, notice: str | None = None
) -> Response:
    status = await api_for(request, person).get("feedback", FEED)
    return renderer(request).page(
        request,
        "calendar.html",
        person,
        active=status["active"],
        created_at=status["created_at"],
        address=address,
        notice=notice,
    )


@router.get("/calendar", name="calendar_subscription")
async def calendar_page(request: Request, person: SignedIn, notice: str | None = None) -> Response:
    return await _page(request, person, notice=notice if notice == "stopped" else None)


@router.post("/calendar", name="calendar_subscribe")
async def calendar_subscribe(request: Request, person: SignedIn, _form: CheckedForm) -> Response:
    """Shown in the answer to this post, not behind a redirect: the address must not land in a URL."""
    made = await api_for(request, person).post("feedback", FEED)
    response = await _page(request, person, address=_address(request, made["token"]))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/calendar/stop", name="calendar_stop")
async def calendar_stop(request: Request, person: SignedIn, _form: CheckedForm) -> Response:
    await api_for(request, person).delete("feedback", FEED)
    return see_other("/calendar", notice="stopped")


@router.get("/calendar/{secret}.ics", name="calendar_feed")
async def calendar_feed(request: Request, secret: str) -> Response:
    """No sign-in: the calendar application has only the address. The service's 404 for an unknown,
    replaced or stopped address, or an owner who left, is passed on as it is."""
    if not SECRET.match(secret):
        return Response("Not found\n", status_code=404, media_type="text/plain")
    services: Services = request.app.state.services
    answer = await services.client("feedback").get(f"{FEED}/calendar", headers={"X-Calendar-Token": secret})
    if answer.status_code != 200:
        status = 404 if answer.status_code in (404, 422) else 502
        return Response(
            "Not found\n" if status == 404 else "Try again later\n", status_code=status, media_type="text/plain"
        )
    return Response(answer.text, media_type=CALENDAR, headers={"Cache-Control": "private, no-store"})
