"""Sign-in: OpenID Connect (authorization code with PKCE) in production, a person picker in development."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from shared.auth import Role, mint_token
from shared.settings import Environment, Settings
from web.api import ApiError, Services
from web.rendering import renderer
from web.session import CheckedForm, Person, checked_form, sign_in, sign_out
from web.settings import WebSettings

router = APIRouter()

# The identity the development picker lists the directory with; it is not a person of it.
PICKER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://meritloop.dev/web-development-sign-in")
# In the development picker, people of this department sign in with the HR role too (the demo
# organisation's People department); production takes roles from the identity provider.
DEVELOPMENT_HR_DEPARTMENT = "People"
PICKER_PAGE = 50


def _settings(request: Request) -> tuple[Settings, WebSettings, Services]:
    state = request.app.state
    return state.settings, state.web_settings, state.services


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def oauth_client(web_settings: WebSettings) -> OAuth | None:
    if not web_settings.oidc_enabled:
        return None
    oauth = OAuth()
    oauth.register(
        "idp",
        client_id=web_settings.oidc_client_id,
        client_secret=web_settings.oidc_client_secret,
        server_metadata_url=f"{str(web_settings.oidc_issuer).rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": web_settings.oidc_scope, "code_challenge_method": "S256"},
    )
    return oauth


def development_allowed(settings: Settings) -> bool:
    return settings.environment is Environment.development


@router.get("/signin", name="signin")
async def signin_page(
    request: Request, next: Annotated[str | None, Query()] = None, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    settings, web_settings, services = _settings(request)
    people: list[dict[str, Any]] = []
    total = 0
    error = None
    if development_allowed(settings):
        api = services.as_person(mint_token(settings, PICKER_ID, [Role.admin], ttl=timedelta(minutes=1)))
        try:
            found = await api.get("reviews", "/people", active="true", limit=PICKER_PAGE, offset=offset)
            people, total = found["items"], found["total"]
        except ApiError as exc:
            error = str(exc)
    return renderer(request).page(
        request,
        "signin.html",
        None,
        people=people,
        total=total,
        offset=offset,
        limit=PICKER_PAGE,
        next=safe_next(next),
        development=development_allowed(settings),
        oidc=web_settings.oidc_enabled,
        error=error,
    )


@router.post("/signin/development", name="signin_development")
async def signin_development(request: Request) -> Response:
    settings, web_settings, services = _settings(request)
    if not development_allowed(settings):
        return renderer(request).page(request, "error.html", None, status_code=404, message_key="not_found")
    form = await checked_form(request)
    raw = str(form.get("person_id", ""))
    try:
        person_id = uuid.UUID(raw)
    except ValueError:
        return RedirectResponse("/signin", status_code=303)
    picker = services.as_person(mint_token(settings, PICKER_ID, [Role.admin], ttl=timedelta(minutes=1)))
    try:
        record = await picker.get("reviews", f"/people/{person_id}")
        reports = await picker.get("reviews", f"/people/{person_id}/reports", limit=1, active="true")
    except ApiError:
        return RedirectResponse("/signin", status_code=303)
    if not record.get("active", False):
        return RedirectResponse("/signin", status_code=303)
    roles = [Role.employee]
    if reports["total"]:
        roles.append(Role.manager)
    if record.get("department") == DEVELOPMENT_HR_DEPARTMENT:
        roles.append(Role.hr)
    ttl = timedelta(seconds=web_settings.session_max_age)
    person = Person(
        person_id=str(person_id),
        name=str(record["display_name"]),
        roles=frozenset(role.value for role in roles),
        token=mint_token(settings, person_id, roles, ttl=ttl),
        locale=record.get("locale"),
        timezone=record.get("timezone"),
        expires_at=time.time() + ttl.total_seconds(),
        how="development",
    )
    sign_in(request, person)
    return RedirectResponse(safe_next(str(form.get("next", "/"))), status_code=303)


def _redirect_uri(request: Request, web_settings: WebSettings) -> str:
    if web_settings.public_url:
        return f"{web_settings.public_url.rstrip('/')}/signin/callback"
    return str(request.url_for("signin_callback"))


@router.get("/signin/oidc", name="signin_oidc")
async def signin_oidc(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    _, web_settings, _services = _settings(request)
    oauth: OAuth | None = request.app.state.oauth
    if oauth is None:
        return RedirectResponse("/signin", status_code=303)
    request.session["next"] = safe_next(next)
    # authlib keeps state, nonce and the PKCE code verifier in the session until the callback.
    response: Response = await oauth.idp.authorize_redirect(request, _redirect_uri(request, web_settings))
    return response


@router.get("/signin/callback", name="signin_callback")
async def signin_callback(request: Request) -> Response:
    _, web_settings, services = _settings(request)
    oauth: OAuth | None = request.app.state.oauth
    if oauth is None:
        return RedirectResponse("/signin", status_code=303)
    try:
        token = await oauth.idp.authorize_access_token(request)
    except OAuthError as exc:
        return renderer(request).page(
            request, "error.html", None, status_code=400, message_key="signin_failed", detail=exc.description
        )
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    access_token = str(token.get("access_token", ""))
    try:
        person_id = str(uuid.UUID(str(claims.get("sub", ""))))
    except ValueError:
        return renderer(request).page(
            request, "error.html", None, status_code=400, message_key="signin_failed", detail="sub is not a person id"
        )
    raw_roles = claims.get("roles") or []
    roles = frozenset(str(role) for role in raw_roles if role in Role.__members__) or frozenset({"employee"})
    api = services.as_person(access_token)
    try:
        record: dict[str, Any] = await api.get("reviews", f"/people/{person_id}")
    except ApiError:
        record = {}
    expires_at = float(token.get("expires_at") or time.time() + web_settings.session_max_age)
    person = Person(
        person_id=person_id,
        name=str(record.get("display_name") or claims.get("name") or claims.get("email") or person_id),
        roles=roles,
        token=access_token,
        locale=record.get("locale") or claims.get("locale"),
        timezone=record.get("timezone") or claims.get("zoneinfo"),
        expires_at=min(expires_at, time.time() + web_settings.session_max_age),
        how="oidc",
    )
    target = safe_next(request.session.get("next"))
    sign_in(request, person)
    return RedirectResponse(target, status_code=303)


@router.post("/signout", name="signout")
async def signout(request: Request, _form: CheckedForm) -> Response:
    """Ends the session here and, after an OIDC sign-in, at the identity provider too
    (RP-initiated logout, when the provider names an ``end_session_endpoint``)."""
    _, web_settings, _services = _settings(request)
    person = Person.from_session(request.session.get("person"))
    sign_out(request)
    oauth: OAuth | None = request.app.state.oauth
    if person is not None and person.how == "oidc" and oauth is not None:
        metadata: dict[str, Any] = await oauth.idp.load_server_metadata()
        end_session = metadata.get("end_session_endpoint")
        if end_session:
            back = (
                f"{web_settings.public_url.rstrip('/')}/signin"
                if web_settings.public_url
                else str(request.url_for("signin"))
            )
            query = urlencode({"client_id": web_settings.oidc_client_id, "post_logout_redirect_uri": back})
            return RedirectResponse(f"{end_session}?{query}", status_code=303)
    return RedirectResponse("/signin", status_code=303)
