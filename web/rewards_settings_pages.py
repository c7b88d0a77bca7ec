"""HR's rewards settings (rewards ``GET/PATCH /rewards-policy``, docs/rewards.md): the minimum cell size of
the pay reports, the pay gap that is flagged, what the adjusted gap controls for, whether a budget blocks
or warns, and what the calibration page's adverse-impact check groups people by.

One page: the settings in force, each said in plain words, who changed them last and when, and one form
that saves them. The PATCH carries only what the form holds (a field left out stays as it is); a number
that is not one is refused before rewards is asked, rewards' 422s stand beside their fields.

HR and admins only: the routes refuse everyone else before rewards is asked, and rewards refuses anyone
who is not active HR (a deactivated HR person signed in before) with its own 403.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from web.api import ApiError
from web.i18n import marked as _
from web.pages import api_for, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person

router = APIRouter()

ADDRESS = "/hr/rewards-settings"
# Rewards' Control and Attribute values (services/rewards/policy/schemas.py, services/rewards/schemas.py),
# in the order the form offers them; the controls in the order rewards' enum has them.
CONTROLS = ("job_level", "job_family", "location", "tenure", "worker_category", "employment_type", "fte")
ATTRIBUTES = ("gender", "employment_type", "worker_category", "job_family", "location")
BUDGET_MODES = ("block", "warn")
NUMBERS = ("min_cell_size", "equity_flag_pct")
LISTS = ("equity_controls", "impact_attributes")
FIELDS = (*NUMBERS, "budget_mode", *LISTS)


NOT_A_NUMBER = _("Enter a number.")
NOT_A_WHOLE_NUMBER = _("Enter a whole number, e.g. 5.")


def plain_percent(value: object) -> str:
    """A percentage as the form takes it back: 5.00 -> 5, 7.50 -> 7.5."""
    return format(Decimal(str(value)).normalize(), "f")


def _values_of(policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "min_cell_size": str(policy["min_cell_size"]),
        "equity_flag_pct": plain_percent(policy["equity_flag_pct"]),
        "budget_mode": str(policy["budget_mode"]),
        "equity_controls": [str(name) for name in policy["equity_controls"]],
        "impact_attributes": [str(name) for name in policy["impact_attributes"]],
    }


def _form_values(form: FormData) -> dict[str, Any]:
    """What the form holds: its numbers and mode as typed, each list of ticks (a list the form has always
    comes with an empty hidden field of its name, so no tick at all is an empty list, not a missing one)."""
    values: dict[str, Any] = {}
    for name in (*NUMBERS, "budget_mode"):
        if name in form:
            values[name] = str(form.get(name) or "").strip()
    for name in LISTS:
        if name in form:
            values[name] = [str(item).strip() for item in form.getlist(name) if str(item).strip()]
    return values


def _body(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The PATCH body; what is surely not a number is refused here, everything else by rewards."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if "min_cell_size" in values:
        raw = values["min_cell_size"]
        try:
            body["min_cell_size"] = int(raw)
        except ValueError:
            errors["min_cell_size"] = NOT_A_WHOLE_NUMBER if _is_number(raw) else NOT_A_NUMBER
    if "equity_flag_pct" in values:
        raw = values["equity_flag_pct"].replace(" ", "")
        if "," in raw and "." not in raw:
            raw = raw.replace(",", ".")  # a decimal comma, as German is written
        if _is_number(raw):
            body["equity_flag_pct"] = raw  # as a string: rewards reads it as a decimal, never through float
        else:
            errors["equity_flag_pct"] = NOT_A_NUMBER
    if "budget_mode" in values:
        body["budget_mode"] = values["budget_mode"]
    for name in LISTS:
        if name in values:
            body[name] = list(values[name])
    return body, errors


def _is_number(raw: str) -> bool:
    try:
        return Decimal(raw).is_finite()
    except InvalidOperation:
        return False


def _field_errors(error: ApiError) -> dict[str, str]:
    """Rewards names ``min_cell_size``, ``equity_flag_pct``, ``budget_mode``, ``equity_controls.0``,
    ``impact_attributes``: each beside its field (a list's beside the list); anything else above the form."""
    found: dict[str, str] = {}
    for field, message in error.fields.items():
        name = field.split(".")[0]
        found.setdefault(name if name in FIELDS else "_form", message)
    return found or {"_form": error.detail}


async def _settings_page(
    request: Request,
    person: Person,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    api = api_for(request, person)
    policy: dict[str, Any] = await api.get("rewards", "/rewards-policy")
    names = await api.names([policy.get("updated_by")])
    return renderer(request).page(
        request,
        "rewards_settings.html",
        person,
        address=ADDRESS,
        policy=policy,
        names=names,
        controls=CONTROLS,
        attributes=ATTRIBUTES,
        budget_modes=BUDGET_MODES,
        # What was posted over what is stored: a field the post did not hold shows as it is.
        values={**_values_of(policy), **(values or {})},
        errors=errors or {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/hr/rewards-settings", name="rewards_settings")
async def rewards_settings_page(request: Request, person: HRPerson, notice: str | None = None) -> Response:
    return await _settings_page(request, person, notice="saved" if notice == "saved" else None)


@router.post("/hr/rewards-settings", name="rewards_settings_save")
async def rewards_settings_save(request: Request, person: HRPerson, form: CheckedForm) -> Response:
    values = _form_values(form)
    body, errors = _body(values)
    status_code = 422
    if not errors:
        try:
            await api_for(request, person).patch("rewards", "/rewards-policy", json=body)
        except ApiError as error:
            if error.status not in (400, 409, 422):
                raise
            errors, status_code = _field_errors(error), error.status
        else:
            return see_other(ADDRESS, notice="saved")
    return await _settings_page(request, person, values=values, errors=errors, status_code=status_code)
