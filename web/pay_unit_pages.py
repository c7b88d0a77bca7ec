"""HR's page of one organisation unit's pay proposals in a cycle, where chosen ones go back to their
managers.

The pay approval page (web/pages.py) returns every submitted proposal of a unit at once. Here HR sees
each proposal (rating, pay, the manager's increase and justification) and returns only those they
tick, with the reason the managers read: rewards' ``POST /cycles/{id}/org-units/{unit}/reject`` with
``proposal_ids``. The unit's pools are set here too (``PUT …/org-units/{unit}/budget``): its own merit
and bonus percentages and fixed amounts per currency. Rewards decides who may do it; the routes
refuse anyone but HR and admins first.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shared.calibration import ProposalStatus
from web.api import ApiError
from web.i18n import marked as _
from web.pages import PAGE, api_for, pages, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person

router = APIRouter()


NONE_TICKED = _("Tick the proposals to return.")
AMOUNTS_FORMAT = _("Write a currency code and an amount on each line, e.g. EUR 25000.00.")
BUDGET_FIELDS = ("merit_pct", "bonus_pct", "merit_amounts", "bonus_amounts", "budget_reason")
_AMOUNT = re.compile(r"^([A-Za-z]{3})\s*:?\s*([0-9][0-9.]*)$")


def amounts(text: str) -> dict[str, str] | None:
    """``EUR 25000.00`` a line (or separated by ``;``) as rewards takes it; None when a line is not one."""
    found: dict[str, str] = {}
    for entry in re.split(r"[\n;]", text):
        cleaned = entry.strip()
        if not cleaned:
            continue
        match = _AMOUNT.match(cleaned)
        if match is None:
            return None
        found[match[1].upper()] = match[2]
    return found


@router.get("/hr/pay/{cycle_id}/{org_unit}/proposals", name="pay_unit")
async def pay_unit_page(
    request: Request,
    person: HRPerson,
    cycle_id: str,
    org_unit: str,
    status: Annotated[ProposalStatus | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    returned: Annotated[int | None, Query(ge=0)] = None,
    budget: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    return await _unit_page(
        request, person, cycle_id, org_unit, status=status, offset=offset, returned=returned, budget_saved=bool(budget)
    )


async def _unit_page(
    request: Request,
    person: Person,
    cycle_id: str,
    org_unit: str,
    *,
    status: ProposalStatus | None = None,
    offset: int = 0,
    returned: int | None = None,
    errors: dict[str, str] | None = None,
    chosen: frozenset[str] = frozenset(),
    reason: str = "",
    budget_values: dict[str, str] | None = None,
    budget_saved: bool = False,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    found, summary = await asyncio.gather(
        api.get(
            "rewards",
            f"/cycles/{quote(cycle_id)}/proposals",
            org_unit=org_unit,
            status=status.value if status else None,
            limit=PAGE,
            offset=offset,
        ),
        api.get("rewards", f"/cycles/{quote(cycle_id)}/org-units/{quote(org_unit, safe='')}/summary"),
    )
    if budget_values is None:
        budget_values = {
            "merit_pct": _number(summary.get("unit_merit_pct")),
            "bonus_pct": _number(summary.get("unit_bonus_pct")),
            "merit_amounts": _lines(summary.get("merit_amounts") or {}),
            "bonus_amounts": _lines(summary.get("bonus_amounts") or {}),
            "budget_reason": summary.get("override_reason") or "",
        }
    address = f"/hr/pay/{cycle_id}/{quote(org_unit, safe='')}/proposals"
    query: dict[str, Any] = {"status": status.value} if status else {}
    return renderer(request).page(
        request,
        "pay_unit.html",
        person,
        cycle_id=cycle_id,
        org_unit=org_unit,
        address=address,
        proposals=found["items"],
        statuses=list(ProposalStatus),
        status=status.value if status else "",
        paging=pages(found["total"], offset),
        base=f"{address}?{urlencode(query)}",
        returned=returned,
        errors=errors or {},
        chosen=chosen,
        reason=reason,
        summary=summary,
        budget_values=budget_values,
        budget_saved=budget_saved,
        status_code=status_code,
    )


def _number(value: object) -> str:
    return "" if value is None else str(value)


def _lines(pools: dict[str, object]) -> str:
    return "\n".join(f"{currency} {amount}" for currency, amount in sorted(pools.items()))


@router.post("/hr/pay/{cycle_id}/{org_unit}/budget", name="pay_unit_budget")
async def pay_unit_budget(
    request: Request, person: HRPerson, cycle_id: str, org_unit: str, form: CheckedForm
) -> Response:
    """Sets the unit's own pools (rewards replaces them whole): percentages, and amounts per currency."""
    values = {name: str(form.get(name) or "").strip() for name in BUDGET_FIELDS}
    body: dict[str, Any] = {"reason": values["budget_reason"] or None}
    for name in ("merit_pct", "bonus_pct"):
        body[name] = values[name].replace(",", ".") or None
    errors: dict[str, str] = {}
    for name in ("merit_amounts", "bonus_amounts"):
        parsed = amounts(values[name])
        if parsed is None:
            errors[name] = AMOUNTS_FORMAT
        body[name] = parsed or None
    if not errors:
        try:
            await api_for(request, person).put(
                "rewards", f"/cycles/{quote(cycle_id)}/org-units/{quote(org_unit, safe='')}/budget", json=body
            )
        except ApiError as error:
            if error.status not in (404, 409, 422):
                raise
            fields = {"reason": "budget_reason"}
            for field, message in error.fields.items():
                name = field.split(".")[0]
                errors[fields.get(name, name)] = message
            errors = errors or {"budget": error.detail}
            return await _unit_page(
                request, person, cycle_id, org_unit, errors=errors, budget_values=values, status_code=error.status
            )
        address = f"/hr/pay/{cycle_id}/{quote(org_unit, safe='')}/proposals"
        return see_other(address, budget="saved")
    return await _unit_page(request, person, cycle_id, org_unit, errors=errors, budget_values=values, status_code=422)


@router.post("/hr/pay/{cycle_id}/{org_unit}/proposals/return", name="pay_unit_return")
async def pay_unit_return(
    request: Request, person: HRPerson, cycle_id: str, org_unit: str, form: CheckedForm
) -> Response:
    """Sends the ticked submitted proposals back to their managers with HR's reason."""
    chosen = [str(value) for value in form.getlist("proposal")]
    reason = str(form.get("reason") or "").strip()
    if not chosen:
        return await _unit_page(
            request, person, cycle_id, org_unit, errors={"proposal": NONE_TICKED}, reason=reason, status_code=422
        )
    try:
        done = await api_for(request, person).post(
            "rewards",
            f"/cycles/{quote(cycle_id)}/org-units/{quote(org_unit, safe='')}/reject",
            json={"reason": reason or None, "proposal_ids": chosen},
        )
    except ApiError as error:
        if error.status not in (404, 409, 422):
            raise
        return await _unit_page(
            request,
            person,
            cycle_id,
            org_unit,
            errors={
                "reason": error.fields.get("reason", ""),
                "proposal": error.fields.get("proposal_ids", "") or ("" if error.fields else error.detail),
            },
            chosen=frozenset(chosen),
            reason=reason,
            status_code=error.status,
        )
    address = f"/hr/pay/{cycle_id}/{quote(org_unit, safe='')}/proposals"
    return see_other(address, returned=done["returned"])
