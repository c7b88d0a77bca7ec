"""HR's exchange rates (rewards ``/exchange-rates``, docs/rewards.md "Currency conversion").

One page: the rates in force today or on a chosen day with the base currency, the stored rates
newest first (paged, by currency), and a form that sets a currency's rate from a day on
(``PUT /exchange-rates/{currency}/{day}``; a day that has a rate already is replaced, and the
notice says so). Each rate shows its inverse, so a rate typed the wrong way round shows at once.
Removing a mistaken rate goes through a page that asks first and says what is in force without
it; only its button calls ``DELETE``.

HR and admins only: the routes refuse everyone else before rewards is asked, and rewards refuses
anyone who is not active HR (a deactivated HR person signed in before) with its own 403.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from babel.numbers import format_decimal
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from web.api import Api, ApiError
from web.i18n import marked as _
from web.pages import PAGE, api_for, pages, query, see_other
from web.rendering import renderer
from web.session import CheckedForm, HRPerson, Person

router = APIRouter()

ADDRESS = "/hr/exchange-rates"
FIELDS = ("currency", "effective_date", "rate", "base", "note")
MAX_OFFSET = 1_000_000_000  # what rewards' paging takes (shared/pagination.py)
_CODE = re.compile(r"^[A-Z]{3}$")


NO_SUCH_RATE = _("There is no such exchange rate.")
CURRENCY_CODE = _("Enter a three-letter currency code, e.g. USD.")
ENTER_A_DATE = _("Enter a date.")
ENTER_A_RATE = _("Enter the rate, e.g. 0.92.")
NOT_A_NUMBER = _("Enter a number.")
CHOOSE_FILE = _("Choose the ECB's CSV file (eurofxref.csv or eurofxref-hist.csv).")
FILE_TOO_LARGE = _("The file is larger than 2 MB: import a year of the history file at a time.")
# What rewards takes in one file (services/rewards/exchange_rates/reference_file.py); it checks itself.
MAX_FILE_BYTES = 2 * 1024 * 1024


def rate_text(value: object, language: str) -> str:
    """A rate as the person's language writes it, every decimal it has and no trailing zeros
    (rewards answers with ten: 0.9200000000 is 0.92, 0.0000578123 stays)."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    return format_decimal(number.normalize(), locale=language, decimal_quantization=False)


def plain_rate(value: object) -> str:
    """A rate as the form takes it back: 52000.0000000000 -> 52000, 0.9200000000 -> 0.92."""
    return format(Decimal(str(value)).normalize(), "f")


def _code(raw: str) -> str | None:
    """``usd`` -> ``USD``; None when it is not three letters (rewards checks ISO 4217 itself)."""
    cleaned = raw.strip().upper()
    return cleaned if _CODE.match(cleaned) else None


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def _rate_path(currency: str, day: date) -> str:
    return f"/exchange-rates/{quote(currency, safe='')}/{day.isoformat()}"


async def _rate_on(api: Api, currency: str, day: date) -> dict[str, Any] | None:
    """The currency's rate in force on ``day``; None when there is none (or the code is not one)."""
    try:
        found: dict[str, Any] = await api.get("rewards", f"/exchange-rates/{quote(currency, safe='')}", on=day)
    except ApiError as error:
        if error.status not in (404, 422):
            raise
        return None
    return found


async def _rate_set_on(api: Api, currency: str, day: date) -> dict[str, Any] | None:
    """The rate stored for exactly that currency and day, or None."""
    found = await _rate_on(api, currency, day)
    return found if found is not None and found["effective_date"] == day.isoformat() else None


def _not_found() -> ApiError:
    return ApiError(status=404, title="Not Found", detail=NO_SUCH_RATE)


def _path_rate(currency: str, effective_date: str) -> tuple[str, date] | None:
    """The currency and day an address names, when it names them as rewards writes them."""
    day = _day(effective_date)
    if day is None or not _CODE.match(currency):
        return None
    return currency, day


async def _rates_page(
    request: Request,
    person: Person,
    *,
    on_raw: str | None = None,
    currency_raw: str | None = None,
    offset: int = 0,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: dict[str, Any] | None = None,
    status_code: int = 200,
    imported: dict[str, Any] | None = None,
    import_errors: list[dict[str, Any]] | None = None,
    changes_offset: int = 0,
) -> Response:
    api = api_for(request, person)
    errors = dict(errors or {})
    on: date | None = None
    if on_raw:
        on = _day(on_raw)
        if on is None:
            errors["on"] = ENTER_A_DATE
    chosen: str | None = None
    if currency_raw:
        chosen = _code(currency_raw)
        if chosen is None:
            errors["list-currency"] = CURRENCY_CODE
    listing: dict[str, Any] = {"items": [], "total": 0}
    changes: dict[str, Any] = {"items": [], "total": 0}
    in_force: dict[str, Any]
    if "list-currency" in errors:
        in_force = await api.get("rewards", "/exchange-rates/in-force", on=on)
    else:
        try:
            in_force, listing, changes = await asyncio.gather(
                api.get("rewards", "/exchange-rates/in-force", on=on),
                api.get("rewards", "/exchange-rates", currency=chosen, limit=PAGE, offset=offset),
                api.get("rewards", "/exchange-rates/changes", currency=chosen, limit=PAGE, offset=changes_offset),
            )
        except ApiError as error:
            if error.status != 422 or "currency" not in error.fields:
                raise
            # A code of three letters ISO 4217 does not list (XYZ): said beside the filter.
            errors["list-currency"] = error.fields["currency"]
            in_force = await api.get("rewards", "/exchange-rates/in-force", on=on)
    if errors and status_code == 200:
        status_code = 422
    names = await api.names(
        [row["set_by"] for row in listing["items"]]
        + [row[who] for row in changes["items"] for who in ("set_by", "changed_by")]
    )
    language = renderer(request).language(request, person)
    shown_on = date.fromisoformat(in_force["on"])
    form = {"effective_date": shown_on.isoformat(), **(values or {})}
    return renderer(request).page(
        request,
        "exchange_rates.html",
        person,
        address=ADDRESS,
        base_currency=in_force["base"],
        on=shown_on,
        on_chosen=on is not None,
        on_value=on_raw or "",
        in_force=in_force["rates"],
        in_force_keys={(row["currency"], row["effective_date"]) for row in in_force["rates"]},
        rates=listing["items"],
        currency_filter=chosen or (currency_raw or "").strip(),
        names=names,
        paging=pages(listing["total"], offset),
        base=f"{ADDRESS}?{query(on=on, currency=chosen, changes_offset=changes_offset or None)}",  # of the paging links
        changes=changes["items"],
        changes_paging=pages(changes["total"], changes_offset),
        changes_base=f"{ADDRESS}?{query(on=on, currency=chosen, offset=offset or None)}",
        values=form,
        errors=errors,
        notice=notice,
        rate_text=lambda value: rate_text(value, language),
        imported=imported,
        import_errors=import_errors or [],
        status_code=status_code,
    )


@router.get("/hr/exchange-rates", name="exchange_rates")
async def exchange_rates_page(
    request: Request,
    person: HRPerson,
    on: Annotated[str | None, Query(max_length=40)] = None,
    currency: Annotated[str | None, Query(max_length=40)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    saved: Annotated[str | None, Query(max_length=3)] = None,
    removed: Annotated[str | None, Query(max_length=3)] = None,
    day: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    replaced: Annotated[str | None, Query(max_length=1)] = None,
    correct: Annotated[str | None, Query(max_length=3)] = None,
    changes_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """``saved``/``removed`` with ``from``: the notice after a post; ``correct`` with ``from``: the form
    filled with that stored rate, to change it."""
    notice = await _notice(request, person, saved=saved, removed=removed, day=day, replaced=bool(replaced))
    values: dict[str, str] | None = None
    if correct and day:
        named = _path_rate(correct, day)
        stored = await _rate_set_on(api_for(request, person), *named) if named else None
        if stored is not None:
            values = {
                "currency": stored["currency"],
                "effective_date": stored["effective_date"],
                "rate": plain_rate(stored["rate"]),
                "note": stored["note"] or "",
            }
    return await _rates_page(
        request,
        person,
        on_raw=on,
        currency_raw=currency,
        offset=offset,
        notice=notice,
        values=values,
        changes_offset=changes_offset,
    )


async def _notice(
    request: Request, person: Person, *, saved: str | None, removed: str | None, day: str | None, replaced: bool
) -> dict[str, Any] | None:
    """What the last post did: the rate as rewards holds it now (never figures from the address)."""
    named = _path_rate(saved or removed or "", day or "")
    if named is None:
        return None
    currency, when = named
    if removed:
        return {"kind": "removed", "currency": currency, "day": when}
    stored = await _rate_set_on(api_for(request, person), currency, when)
    if stored is None:
        return None  # removed meanwhile: the list says what there is
    return {"kind": "replaced" if replaced else "created", "currency": currency, "day": when, "rate": stored}


def _form_values(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in FIELDS}


def _body(values: dict[str, str]) -> tuple[str | None, date | None, dict[str, Any], dict[str, str]]:
    """The PUT's currency, day and body from the form; what is surely wrong is refused here, the rest by
    rewards (an ISO code it does not list, a rate of 0 or with 11 decimals, another base)."""
    errors: dict[str, str] = {}
    currency = _code(values["currency"])
    if currency is None:
        errors["currency"] = CURRENCY_CODE
    day = _day(values["effective_date"])
    if day is None:
        errors["effective_date"] = ENTER_A_DATE
    raw = values["rate"].replace(" ", "")
    if "," in raw and "." not in raw:
        raw = raw.replace(",", ".")  # a decimal comma, as German is written
    if not raw:
        errors["rate"] = ENTER_A_RATE
    else:
        try:
            Decimal(raw)
        except InvalidOperation:
            errors["rate"] = NOT_A_NUMBER
    body: dict[str, Any] = {"rate": raw, "note": values["note"] or None}
    if values["base"]:
        base = _code(values["base"])
        if base is None:
            errors["base"] = CURRENCY_CODE
        body["base"] = base
    return currency, day, body, errors


def _field_errors(error: ApiError) -> dict[str, str]:
    """Rewards names ``currency``, ``effective_date`` (the path), ``rate``, ``base``, ``note``; anything else
    stands above the form."""
    found: dict[str, str] = {}
    for field, message in error.fields.items():
        name = field.split(".")[0]
        found.setdefault(name if name in FIELDS else "_form", message)
    return found or {"_form": error.detail}


@router.post("/hr/exchange-rates", name="exchange_rate_set")
async def exchange_rate_set(request: Request, person: HRPerson, form: CheckedForm) -> Response:
    values = _form_values(form)
    currency, day, body, errors = _body(values)
    if errors or currency is None or day is None:
        return await _rates_page(request, person, values=values, errors=errors, status_code=422)
    api = api_for(request, person)
    existing = await _rate_set_on(api, currency, day)
    try:
        await api.put("rewards", _rate_path(currency, day), json=body)
    except ApiError as error:
        if error.status not in (400, 409, 422):
            raise
        return await _rates_page(request, person, values=values, errors=_field_errors(error), status_code=error.status)
    return see_other(
        ADDRESS, saved=currency, **{"from": day.isoformat()}, replaced="1" if existing is not None else None
    )


@router.get("/hr/exchange-rates/{currency}/{effective_date}/remove", name="exchange_rate_remove_confirm")
async def exchange_rate_remove_confirm(
    request: Request, person: HRPerson, currency: str, effective_date: str
) -> Response:
    """The rate, what is in force on its days without it, and the one button that removes it."""
    named = _path_rate(currency, effective_date)
    if named is None:
        raise _not_found()
    code, day = named
    api = api_for(request, person)
    rate = await _rate_set_on(api, code, day)
    if rate is None:
        raise _not_found()
    before, everything = await asyncio.gather(
        _rate_on(api, code, day - timedelta(days=1)), api.get("rewards", "/exchange-rates", limit=1)
    )
    names = await api.names([rate["set_by"]])
    language = renderer(request).language(request, person)
    return renderer(request).page(
        request,
        "exchange_rate_remove.html",
        person,
        rate=rate,
        before=before,
        last=everything["total"] == 1,
        names=names,
        action=f"{ADDRESS}/{code}/{day.isoformat()}/remove",
        rate_text=lambda value: rate_text(value, language),
    )


@router.post("/hr/exchange-rates/{currency}/{effective_date}/remove", name="exchange_rate_remove")
async def exchange_rate_remove(
    request: Request, person: HRPerson, currency: str, effective_date: str, form: CheckedForm
) -> Response:
    named = _path_rate(currency, effective_date)
    if named is None:
        raise _not_found()
    code, day = named
    try:
        await api_for(request, person).delete("rewards", _rate_path(code, day))
    except ApiError as error:
        if error.status != 404:
            raise
        # Pressed twice, or another tab (another HR person) was first: it is gone either way.
    return see_other(ADDRESS, removed=code, **{"from": day.isoformat()})


@router.post("/hr/exchange-rates/reference-rates", name="exchange_rates_import")
async def exchange_rates_import(request: Request, person: HRPerson, form: CheckedForm) -> Response:
    """The ECB's file, sent to rewards as it is; the page then says what was created, replaced or kept,
    or lists each cell rewards refused (nothing is stored then)."""
    upload = form.get("file")
    dry_run = form.get("dry_run") == "yes"
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _rates_page(request, person, errors={"file": CHOOSE_FILE}, status_code=422)
    content = await upload.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        return await _rates_page(request, person, errors={"file": FILE_TOO_LARGE}, status_code=422)
    api = api_for(request, person)
    try:
        report = await api.upload(
            "rewards", "/exchange-rates/reference-rates", content, "text/csv", dry_run="true" if dry_run else "false"
        )
    except ApiError as error:
        if error.status != 422:
            raise
        listed = [entry for entry in error.errors if "row" in entry or "column" in entry]
        message = error.fields.get("file") or error.fields.get("base") or (None if listed else error.detail)
        return await _rates_page(
            request,
            person,
            errors={"file": message} if message else {},
            import_errors=listed,
            status_code=422,
        )
    return await _rates_page(request, person, imported=report)
