"""HR's approval policy of a pay cycle (rewards ``GET/PUT /cycles/{id}/approval-policy``): how many levels
above each manager approve, who approves last, how long a step may take, reminders and escalations.

HR and admins only: the page refuses everyone else before asking rewards, and rewards refuses anyone
who is not active HR (a deactivated HR person signed in before) with its own 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from web.api import ApiError
from web.i18n import marked as _
from web.pages import api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person

router = APIRouter()

# The workflow's EscalationTarget values (workflows/models.py), in the order the form offers them.
NOTIFY = ("manager", "skip_level", "hr")
ESCALATION_ROWS = 3
DEFAULTS = {"depth": "1", "final_approver_id": "", "hr_owner_id": "", "step_hours": "72", "reminder_every_hours": "24"}


NO_PAY_CYCLE = _("The rewards service has no ratings of this cycle yet; set the policy once it has.")
NOT_A_NUMBER = _("Enter a number.")


def _cycle_id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        raise ApiError(status=404, title="Not Found", detail=NO_PAY_CYCLE) from None


def _values_of(policy: dict[str, Any]) -> dict[str, str]:
    values = {key: "" if policy.get(key) is None else _plain(policy[key]) for key in DEFAULTS}
    for index, item in enumerate(policy.get("escalation") or []):
        values[f"escalation-{index}-after_hours"] = _plain(item["after_hours"])
        values[f"escalation-{index}-notify"] = str(item["notify"])
    return values


def _plain(value: Any) -> str:
    """72.0 -> "72": the numbers as HR typed them, not as JSON floats."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _body(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str], list[int]]:
    """The PUT body from the form; numbers that are not numbers are refused here, the rest by rewards.
    Also the form row of each escalation sent, since rows left empty are not."""
    errors: dict[str, str] = {}
    rows: list[int] = []

    def number(key: str, *, whole: bool = False) -> float | int | None:
        raw = values.get(key, "").strip().replace(",", ".")
        if raw == "":
            return None
        try:
            return int(raw) if whole else float(raw)
        except ValueError:
            errors[key] = NOT_A_NUMBER
            return None

    body: dict[str, Any] = {
        "depth": number("depth", whole=True),
        "final_approver_id": values.get("final_approver_id") or None,
        "hr_owner_id": values.get("hr_owner_id") or None,
        "step_hours": number("step_hours"),
        "reminder_every_hours": number("reminder_every_hours"),
        "escalation": [],
    }
    if body["depth"] is None:
        del body["depth"]  # rewards' default (one level) stands
    for index in range(ESCALATION_ROWS):
        notify = values.get(f"escalation-{index}-notify", "")
        after = number(f"escalation-{index}-after_hours")
        if notify:
            body["escalation"].append({"notify": notify} | ({} if after is None else {"after_hours": after}))
            rows.append(index)
    return body, errors, rows


def _field_errors(error: ApiError, rows: list[int]) -> dict[str, str]:
    """``escalation.1.after_hours`` -> that escalation's field of the form (``escalation-<row>-after_hours``)."""
    errors: dict[str, str] = {}
    for name, message in error.fields.items():
        parts = name.split(".")
        if parts[0] == "escalation" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(rows):
            errors[f"escalation-{rows[int(parts[1])]}-{parts[2]}"] = message
        elif parts[0] in DEFAULTS:
            errors[parts[0]] = message
        else:
            errors.setdefault("_form", message)
    return errors or {"_form": NO_PAY_CYCLE if error.status == 404 else error.detail}


async def _policy_page(
    request: Request,
    person: Person,
    cycle_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    policy: dict[str, Any] | None = None
    try:
        policy = await api.get("rewards", f"/cycles/{quote(cycle_id)}/approval-policy")
    except ApiError as error:
        if error.status != 404:  # 404: none set yet (or no pay cycle yet); 403 for a deactivated HR person
            raise
    people = (await api.get("reviews", "/people", active="true", limit=500))["items"]
    names = await api.names([policy["set_by"]] if policy else [])
    return renderer(request).page(
        request,
        "approval_policy.html",
        person,
        cycle_id=cycle_id,
        policy=policy,
        people=people,
        names=names,
        notify=NOTIFY,
        rows=range(ESCALATION_ROWS),
        values=values or (_values_of(policy) if policy else dict(DEFAULTS)),
        errors=errors or {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/hr/pay/{cycle_id}/policy", name="approval_policy")
async def approval_policy_page(
    request: Request, person: HRPerson, cycle_id: str, notice: str | None = None
) -> Response:
    return await _policy_page(request, person, _cycle_id(cycle_id), notice=notice)


def _form_values(form: FormData) -> dict[str, str]:
    return {key: str(value).strip() for key, value in form.items() if key != "csrf_token"}


@router.post("/hr/pay/{cycle_id}/policy", name="approval_policy_set")
async def approval_policy_set(request: Request, person: HRPerson, cycle_id: str, form: CheckedForm) -> Response:
    checked = _cycle_id(cycle_id)
    values = _form_values(form)
    body, errors, rows = _body(values)
    status_code = 422
    if not errors:
        try:
            await api_for(request, person).put("rewards", f"/cycles/{quote(checked)}/approval-policy", json=body)
        except ApiError as error:
            if error.status not in (400, 404, 409, 422):
                raise
            errors, status_code = _field_errors(error, rows), error.status
        else:
            return see_other(f"/hr/pay/{checked}/policy", notice="saved")
    return await _policy_page(request, person, checked, values=values, errors=errors, status_code=status_code)
