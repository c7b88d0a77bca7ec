"""HR's company values and competencies (feedback ``/company-values`` and ``/competencies``, docs/feedback.md):
the two lists people choose from when they write feedback or answer a feedback request.

One page, a section per list: every entry by name with its description, archived ones marked, each list paged on
its own; a form that adds an entry, and per entry a form that renames or describes it and a button that archives
or restores it (``PATCH`` with ``archived``: an archived entry can no longer be chosen, and the feedback that
chose it still names it). Every form carries both lists' offsets, so a post comes back to the pages HR was on.
Feedback refuses a name another entry of the same list has, in any case (409): said beside the name, what was
typed kept, as are its 422s beside their fields.

HR and admins only: the routes refuse everyone else before feedback is asked, and feedback refuses anyone who
is not active (a deactivated HR person signed in before) with its own 403.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from shared.pagination import MAX_OFFSET
from web.api import Api, ApiError
from web.i18n import marked as _
from web.pages import PAGE, api_for, entry_notice, errors_beside, pages, query, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person

router = APIRouter()

ADDRESS = "/hr/values"
FIELDS = ("name", "description")

ENTER_A_NAME = _("Enter a name.")
NO_SUCH_ENTRY = _("There is no such company value or competency.")


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One of feedback's two lists, as the page shows it."""

    kind: str  # its collection in the feedback service, and its part of this page's addresses
    offset_name: str  # the page parameter of its list (the two lists page on their own)
    name_taken: str  # feedback's 409, in words


COMPANY_VALUES = Catalogue(
    "company-values", "values_offset", _("Another company value has this name already (in any case).")
)
COMPETENCIES = Catalogue(
    "competencies", "competencies_offset", _("Another competency has this name already (in any case).")
)
CATALOGUES = (COMPANY_VALUES, COMPETENCIES)
BY_KIND = {catalogue.kind: catalogue for catalogue in CATALOGUES}


def _not_found() -> ApiError:
    return ApiError(status=404, title="Not Found", detail=NO_SUCH_ENTRY)


def _catalogue(kind: str) -> Catalogue:
    found = BY_KIND.get(kind)
    if found is None:
        raise _not_found()
    return found


def _entry_id(raw: str) -> str:
    """The id as feedback writes it; one that is none is this page's 404, not feedback's 422 about a path."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _not_found() from None


def _posted_offsets(form: FormData) -> dict[str, int]:
    """Each list's offset as the form carried it, by its parameter (anything that is not one is 0)."""
    offsets: dict[str, int] = {}
    for catalogue in CATALOGUES:
        try:
            offset = int(str(form.get(catalogue.offset_name) or 0))
        except ValueError:
            offset = 0
        offsets[catalogue.offset_name] = offset if 0 <= offset <= MAX_OFFSET else 0
    return offsets


def _kept(offsets: dict[str, int], *, leave_out: str | None = None) -> dict[str, int | None]:
    """The offsets an address keeps (0 needs no parameter)."""
    return {name: offset or None for name, offset in offsets.items() if name != leave_out}


async def _notice(api: Api, notice: str | None, kind: str | None, entry: str | None) -> dict[str, str] | None:
    catalogue = BY_KIND.get(kind or "")
    if catalogue is None or not entry:
        return None
    return await entry_notice(api, notice, f"/{catalogue.kind}/{_entry_id(entry)}")


async def _values_page(
    request: Request,
    person: Person,
    *,
    offsets: dict[str, int],
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    listings = await asyncio.gather(
        *(
            api.get(
                "feedback",
                f"/{catalogue.kind}",
                include_archived="true",
                limit=PAGE,
                offset=offsets[catalogue.offset_name],
            )
            for catalogue in CATALOGUES
        )
    )
    sections = [
        {
            "kind": catalogue.kind,
            "entries": listing["items"],
            "paging": pages(listing["total"], offsets[catalogue.offset_name]),
            # The paging links of one list keep the other list where it is.
            "base": f"{ADDRESS}?{query(**_kept(offsets, leave_out=catalogue.offset_name))}",
            "offset_name": catalogue.offset_name,
        }
        for catalogue, listing in zip(CATALOGUES, listings, strict=True)
    ]
    return renderer(request).page(
        request,
        "values.html",
        person,
        address=ADDRESS,
        sections=sections,
        offsets=offsets,
        values=values or {},
        errors=errors or {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/hr/values", name="values")
async def values_page(
    request: Request,
    person: HRPerson,
    values_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    competencies_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    notice: Annotated[str | None, Query(max_length=10)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    entry: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """``notice`` with ``kind`` and ``entry``: what the last post did to which entry."""
    offsets = {COMPANY_VALUES.offset_name: values_offset, COMPETENCIES.offset_name: competencies_offset}
    said = await _notice(api_for(request, person), notice, kind, entry)
    return await _values_page(request, person, offsets=offsets, notice=said)


def _back(catalogue: Catalogue, entry_id: object, done: str, offsets: dict[str, int]) -> Response:
    return see_other(ADDRESS, notice=done, kind=catalogue.kind, entry=str(entry_id), **_kept(offsets))


async def _save(
    request: Request, person: Person, form: FormData, catalogue: Catalogue, entry_id: str | None
) -> Response:
    """Adds an entry (no ``entry_id``) or renames and describes one: the form sends both fields, so an emptied
    description removes it. Refused: the page again with the message beside the field and the typed text."""
    # The add form's fields are named by their list, an entry's by the entry: one page holds many of them.
    prefix = catalogue.kind if entry_id is None else _entry_id(entry_id)
    path = f"/{catalogue.kind}" if entry_id is None else f"/{catalogue.kind}/{prefix}"
    typed = {name: str(form.get(name) or "").strip() for name in FIELDS}
    offsets = _posted_offsets(form)
    errors: dict[str, str] = {}
    status_code = 422
    if not typed["name"]:
        errors["name"] = ENTER_A_NAME  # feedback would refuse it too, in its own (English) words
    else:
        body = {"name": typed["name"], "description": typed["description"] or None}
        method = "POST" if entry_id is None else "PATCH"
        try:
            saved = await api_for(request, person).request("feedback", method, path, json=body)
        except ApiError as error:
            if error.status not in (400, 409, 422):
                raise
            status_code = error.status
            errors = {"name": catalogue.name_taken} if error.status == 409 else errors_beside(error, FIELDS)
        else:
            return _back(catalogue, saved["id"], "added" if entry_id is None else "saved", offsets)
    return await _values_page(
        request,
        person,
        offsets=offsets,
        values={f"{prefix}-{name}": value for name, value in typed.items()},
        errors={f"{prefix}-{name}": message for name, message in errors.items()},
        status_code=status_code,
    )


@router.post("/hr/values/{kind}", name="values_add")
async def values_add(request: Request, person: HRPerson, kind: str, form: CheckedForm) -> Response:
    return await _save(request, person, form, _catalogue(kind), None)


@router.post("/hr/values/{kind}/{entry_id}", name="values_edit")
async def values_edit(request: Request, person: HRPerson, kind: str, entry_id: str, form: CheckedForm) -> Response:
    return await _save(request, person, form, _catalogue(kind), entry_id)


async def _set_archived(
    request: Request, person: Person, form: FormData, kind: str, entry_id: str, archived: bool
) -> Response:
    # PATCH rather than DELETE for archiving too: one call that goes both ways. Pressed twice (or after
    # another HR person) it changes nothing and says the same.
    catalogue = _catalogue(kind)
    path = f"/{catalogue.kind}/{_entry_id(entry_id)}"
    saved = await api_for(request, person).patch("feedback", path, json={"archived": archived})
    return _back(catalogue, saved["id"], "archived" if archived else "restored", _posted_offsets(form))


@router.post("/hr/values/{kind}/{entry_id}/archive", name="values_archive")
async def values_archive(request: Request, person: HRPerson, kind: str, entry_id: str, form: CheckedForm) -> Response:
    return await _set_archived(request, person, form, kind, entry_id, archived=True)


@router.post("/hr/values/{kind}/{entry_id}/restore", name="values_restore")
async def values_restore(request: Request, person: HRPerson, kind: str, entry_id: str, form: CheckedForm) -> Response:
    return await _set_archived(request, person, form, kind, entry_id, archived=False)
