"""Changing a goal in the pages: its fields, its key results and its milestones.

Each form posts to its own address and the goals service decides (``PATCH /goals/{id}``, ``POST
/goals/{id}/key-results``, ``PATCH`` and ``DELETE /goals/{id}/key-results/{kr}``, ``POST
/goals/{id}/milestones``, ``PATCH`` and ``DELETE /goals/{id}/milestones/{m}``): who may change a
goal is its rule, and the page passes its refusals on (403 for a goal the person may read but not
change, 404 for one they may not read). A refused field comes back beside its own form, named by
that form's prefix. Removing an item cannot be undone, so the edit page only links to a page that
asks first, and that page's button removes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, NamedTuple
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.api import ApiError
from web.i18n import marked as _
from web.pages import api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, Person, SignedIn

router = APIRouter()

# Refusals a form shows beside its fields; anything else is the error page's.
SHOWN = (400, 409, 422)
# Fields a person may empty: sent as null, which clears them in the goals service.
CLEARABLE = ("description", "due_date", "weight", "aligned_to_id")


NOT_FOUND = _("There is no such goal, key result or milestone.")


def _id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        # What the goals service answers for an id the person may not read: nothing more to tell.
        raise ApiError(status=404, title="Not Found", detail=NOT_FOUND) from None


def period_text(goal: dict[str, Any]) -> str:
    """The goal's period as the form takes it (2026, 2026-H2, 2026-Q3); empty for a custom range."""
    kind, start = goal.get("period_kind"), goal.get("period_start")
    if not kind or not start:
        return ""
    first = date.fromisoformat(str(start))
    if kind == "year":
        return str(first.year)
    if kind == "half":
        return f"{first.year}-H{1 if first.month <= 6 else 2}"
    return f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def _values(form: CheckedForm, prefix: str = "") -> dict[str, str]:
    return {
        key[len(prefix) :]: str(value).strip()
        for key, value in form.items()
        if key.startswith(prefix) and key != "csrf_token"
    }


def goal_changes(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"title": values.get("title", "")}
    if values.get("period"):
        body["period"] = values["period"]
    for name in CLEARABLE:
        body[name] = values.get(name) or None
    if values.get("visibility"):
        body["visibility"] = values["visibility"]
    return body


def _filled(values: dict[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: values[name] for name in names if values.get(name)}


def _errors(error: ApiError, prefix: str) -> dict[str, str]:
    """The service's field errors under the form's prefix; a refusal naming no field above the form."""
    named = {f"{prefix}{field.split('.')[0]}": message for field, message in error.fields.items()}
    return named or {f"{prefix}_form": error.detail}


async def _edit_page(
    request: Request,
    person: Person,
    goal_id: str,
    *,
    posted: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    goal = await api.get("goals", f"/goals/{quote(goal_id)}")
    visible = await api.get("goals", "/goals", limit=100)
    values = {
        "title": goal["title"],
        "description": goal["description"] or "",
        "period": period_text(goal),
        "due_date": goal["due_date"] or "",
        "weight": "" if goal["weight"] is None else f"{goal['weight']:g}",
        "aligned_to_id": goal["aligned_to_id"] or "",
        "visibility": goal["visibility"],
    }
    return renderer(request).page(
        request,
        "goal_edit.html",
        person,
        goal=goal,
        values={**values, **(posted or {})},
        posted=posted or {},
        errors=errors or {},
        alignable=[g for g in visible["items"] if g["id"] != goal["id"] and g["aligned_to_id"] != goal["id"]],
        saved=request.query_params.get("saved"),
        status_code=status_code,
    )


@router.get("/goals/{goal_id}/edit", name="goal_edit")
async def goal_edit(request: Request, person: SignedIn, goal_id: str) -> Response:
    return await _edit_page(request, person, _id(goal_id))


async def _send(
    request: Request,
    person: Person,
    goal_id: str,
    call: Awaitable[Any],
    prefix: str,
    form: CheckedForm,
    saved: str,
) -> Response:
    try:
        await call
    except ApiError as error:
        if error.status not in SHOWN:
            raise
        posted = {f"{prefix}{key}": value for key, value in _values(form, prefix).items()}
        return await _edit_page(
            request, person, goal_id, posted=posted, errors=_errors(error, prefix), status_code=error.status
        )
    return see_other(f"/goals/{goal_id}/edit", saved=saved)


@router.post("/goals/{goal_id}/edit", name="goal_update")
async def goal_update(request: Request, person: SignedIn, goal_id: str, form: CheckedForm) -> Response:
    goal_id = _id(goal_id)
    body = goal_changes(_values(form, "goal-"))
    call = api_for(request, person).patch("goals", f"/goals/{quote(goal_id)}", json=body)
    return await _send(request, person, goal_id, call, "goal-", form, "goal")


@router.post("/goals/{goal_id}/status", name="goal_status")
async def goal_status(request: Request, person: SignedIn, goal_id: str, form: CheckedForm) -> Response:
    """Show another status than the derived one, with a reason; an empty choice returns to the derived one."""
    goal_id = _id(goal_id)
    values = _values(form, "status-")
    body = {"status": values.get("status") or None, "reason": values.get("reason") or None}
    call = api_for(request, person).put("goals", f"/goals/{quote(goal_id)}/status", json=body)
    return await _send(request, person, goal_id, call, "status-", form, "status")


@router.post("/goals/{goal_id}/key-results", name="key_result_add")
async def key_result_add(request: Request, person: SignedIn, goal_id: str, form: CheckedForm) -> Response:
    goal_id = _id(goal_id)
    values = _values(form, "kr-new-")
    body = {"title": values.get("title", ""), **_filled(values, ("unit", "currency", "start_value", "target_value"))}
    body.update(_filled(values, ("weight",)))
    call = api_for(request, person).post("goals", f"/goals/{quote(goal_id)}/key-results", json=body)
    return await _send(request, person, goal_id, call, "kr-new-", form, "key_result")


def _key_result_changes(values: dict[str, str]) -> dict[str, Any]:
    return {"title": values.get("title", ""), **_filled(values, ("start_value", "target_value", "weight"))}


@router.post("/goals/{goal_id}/key-results/{key_result_id}", name="key_result_update")
async def key_result_update(
    request: Request, person: SignedIn, goal_id: str, key_result_id: str, form: CheckedForm
) -> Response:
    return await _change_item(request, person, goal_id, "key-results", key_result_id, form, _key_result_changes)


@router.post("/goals/{goal_id}/milestones", name="milestone_add")
async def milestone_add(request: Request, person: SignedIn, goal_id: str, form: CheckedForm) -> Response:
    goal_id = _id(goal_id)
    values = _values(form, "ms-new-")
    body = {"title": values.get("title", ""), "due_date": values.get("due_date") or None}
    body.update(_filled(values, ("key_result_id", "target_value")))
    call = api_for(request, person).post("goals", f"/goals/{quote(goal_id)}/milestones", json=body)
    return await _send(request, person, goal_id, call, "ms-new-", form, "milestone")


def _milestone_changes(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"title": values.get("title", ""), **_filled(values, ("due_date",))}
    if "done" in values:  # *Mark done* or *Not done after all*; *Save* leaves it
        body["done"] = values["done"] == "1"
    return body


@router.post("/goals/{goal_id}/milestones/{milestone_id}", name="milestone_update")
async def milestone_update(
    request: Request, person: SignedIn, goal_id: str, milestone_id: str, form: CheckedForm
) -> Response:
    return await _change_item(request, person, goal_id, "milestones", milestone_id, form, _milestone_changes)


class Item(NamedTuple):
    """A kind of item a goal holds, by its address segment."""

    prefix: str  # of its form's fields
    field: str  # the goal's list of them
    kind: str  # the "saved" notice, and what the confirmation page calls it


ITEMS = {"key-results": Item("kr", "key_results", "key_result"), "milestones": Item("ms", "milestones", "milestone")}


async def _change_item(
    request: Request,
    person: Person,
    goal_id: str,
    collection: str,
    item_id: str,
    form: CheckedForm,
    changes: Callable[[dict[str, str]], dict[str, Any]],
) -> Response:
    """One key result's or milestone's own form: its fields go to ``PATCH /goals/{id}/<collection>/{item}``."""
    goal_id, item_id = _id(goal_id), _id(item_id)
    short, _field, saved = ITEMS[collection]
    prefix = f"{short}-{item_id}-"
    path = f"/goals/{quote(goal_id)}/{collection}/{quote(item_id)}"
    call = api_for(request, person).patch("goals", path, json=changes(_values(form, prefix)))
    return await _send(request, person, goal_id, call, prefix, form, saved)


@router.get("/goals/{goal_id}/key-results/{key_result_id}/remove", name="key_result_remove_confirm")
async def key_result_remove_confirm(request: Request, person: SignedIn, goal_id: str, key_result_id: str) -> Response:
    return await _remove_page(request, person, goal_id, "key-results", key_result_id)


@router.post("/goals/{goal_id}/key-results/{key_result_id}/remove", name="key_result_remove")
async def key_result_remove(
    request: Request, person: SignedIn, goal_id: str, key_result_id: str, form: CheckedForm
) -> Response:
    return await _remove(request, person, goal_id, "key-results", key_result_id)


@router.get("/goals/{goal_id}/milestones/{milestone_id}/remove", name="milestone_remove_confirm")
async def milestone_remove_confirm(request: Request, person: SignedIn, goal_id: str, milestone_id: str) -> Response:
    return await _remove_page(request, person, goal_id, "milestones", milestone_id)


@router.post("/goals/{goal_id}/milestones/{milestone_id}/remove", name="milestone_remove")
async def milestone_remove(
    request: Request, person: SignedIn, goal_id: str, milestone_id: str, form: CheckedForm
) -> Response:
    return await _remove(request, person, goal_id, "milestones", milestone_id)


async def _remove_page(request: Request, person: Person, goal_id: str, collection: str, item_id: str) -> Response:
    """What removing the item takes with it, and the one button that removes it."""
    goal_id, item_id = _id(goal_id), _id(item_id)
    goal = await api_for(request, person).get("goals", f"/goals/{quote(goal_id)}")
    _prefix, field, kind = ITEMS[collection]
    item = next((entry for entry in goal[field] if entry["id"] == item_id), None)
    if item is None:
        raise ApiError(status=404, title="Not Found", detail=NOT_FOUND)
    tied = [m for m in goal["milestones"] if kind == "key_result" and m["key_result_id"] == item_id]
    return renderer(request).page(
        request,
        "goal_remove.html",
        person,
        goal=goal,
        item=item,
        kind=kind,
        tied=tied,
        action=f"/goals/{goal_id}/{collection}/{item_id}/remove",
    )


async def _remove(request: Request, person: Person, goal_id: str, collection: str, item_id: str) -> Response:
    goal_id, item_id = _id(goal_id), _id(item_id)
    api = api_for(request, person)
    try:
        await api.delete("goals", f"/goals/{quote(goal_id)}/{collection}/{quote(item_id)}")
    except ApiError as error:
        if error.status != 404:
            raise
        # A second press, or another tab was first: the goal still readable means the item is gone already.
        await api.get("goals", f"/goals/{quote(goal_id)}")
    return see_other(f"/goals/{goal_id}/edit", saved="removed")
