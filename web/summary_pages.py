"""A manager's summary of a report's year (reviews ``POST /people/{id}/year-summary``), from the team page.

As the task page's *Write a first draft*: the signed bundles of what the signed-in manager may read about
the person (``GET /goals/draft-sources``, ``GET /feedback/draft-sources``, for the chosen calendar year) are
fetched with the manager's own token and passed on; reviews adds the year's cycles. Only the person's
managers (any level above, active) get one: the page checks the directory's manager chain before it
fetches anything, answering as reviews does (the person, HR and admins 403; anyone else 404).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.api import Api, ApiError
from web.i18n import marked as _
from web.pages import api_for
from web.rendering import renderer
from web.session import CheckedForm, NotAllowed, Person, SignedIn

router = APIRouter()


NO_SUCH = _("There is no such person among your reports.")
YEAR_ERROR = _("Choose a year from 2000 to 2100.")


async def _subject(api: Api, person: Person, raw: str) -> dict[str, Any]:
    """The person, if the signed-in one is an active manager above them; else the refusal reviews would give."""
    try:
        person_id = str(UUID(raw))
    except ValueError:
        raise ApiError(status=404, title="Not Found", detail=NO_SUCH) from None
    subject, managers = await asyncio.gather(
        api.get("reviews", f"/people/{quote(person_id)}"), api.get("reviews", f"/people/{quote(person_id)}/managers")
    )
    mine = next((m for m in managers if str(m["id"]) == person.person_id), None)
    if mine is None:
        if person_id == person.person_id or person.is_hr:
            raise NotAllowed
        raise ApiError(status=404, title="Not Found", detail=NO_SUCH)
    if not mine.get("active", True):
        raise NotAllowed
    found: dict[str, Any] = subject
    return found


async def _bundles(api: Api, person_id: str, year: int) -> list[Any]:
    start, end = date(year, 1, 1), date(year, 12, 31)
    return list(
        await asyncio.gather(
            api.get("goals", "/goals/draft-sources", person_id=person_id, period_start=start, period_end=end),
            api.get("feedback", "/feedback/draft-sources", person_id=person_id, **{"from": start, "to": end}),
        )
    )


def _cited(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each sentence with the sources it cites (their number on the page and their text)."""
    numbers = {source["id"]: number for number, source in enumerate(summary["sources"], start=1)}
    return [
        {
            "text": sentence["text"],
            "sources": [(numbers[s], s) for s in sentence["sources"] if s in numbers],
        }
        for sentence in summary["sentences"]
    ]


@router.get("/team/{person_id}/year-summary", name="year_summary")
async def year_summary_page(request: Request, person: SignedIn, person_id: str) -> Response:
    api = api_for(request, person)
    subject = await _subject(api, person, person_id)
    return renderer(request).page(
        request,
        "year_summary.html",
        person,
        subject=subject,
        values={"year": str(datetime.now(UTC).year)},
        summary=None,
    )


@router.post("/team/{person_id}/year-summary", name="year_summary_write")
async def year_summary_write(request: Request, person: SignedIn, person_id: str, form: CheckedForm) -> Response:
    api = api_for(request, person)
    subject = await _subject(api, person, person_id)
    raw = str(form.get("year", "")).strip()
    values = {"year": raw}
    errors: dict[str, str] = {}
    summary: dict[str, Any] | None = None
    status_code = 200
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        # Reviews takes 2000-2100; the bundles are not fetched for a year it would refuse.
        errors["year"], status_code = YEAR_ERROR, 422
    else:
        try:
            bundles = await _bundles(api, str(subject["id"]), int(raw))
            summary = await api.post(
                "reviews",
                f"/people/{quote(str(subject['id']))}/year-summary",
                json={"year": int(raw), "attested_sources": bundles},
            )
        except ApiError as error:
            if error.status not in (400, 409, 422):
                raise
            errors = {"year": YEAR_ERROR} if "year" in error.fields else {"_form": error.detail}
            status_code = error.status
    return renderer(request).page(
        request,
        "year_summary.html",
        person,
        subject=subject,
        values=values,
        errors=errors,
        summary=summary,
        cited=_cited(summary) if summary else [],
        status_code=status_code,
    )
