"""Sign-in: OpenID Connect (authorization code with PKCE) in production, a person picker in development."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from shared.settings import Environment, Settings
from web.api import ApiError, Services
from web.rendering import renderer
from web.session import CheckedForm, Person, checked_form, safe_next, sealer, sign_in, sign_out
from web.settings import WebSettings
from web.tokens import PICKER_ID, development_roles, development_token, picker_token, roles_from_claims

__all__ = ["PICKER_ID", "router", "safe_next"]

router = APIRouter()

PICKER_PAGE = 50


# Said on the sign-in page when a form arrived after the sign-in had ended (web.session.signin_location).
def _settings(request: Request) -> tuple[Settings, WebSettings, Services]:
    state = request.app.state
    return state.settings, state.web_settings, state.services


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
    request: Request,
    next: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    unsaved: Annotated[bool, Query()] = False,
) -> Response:
    settings, web_settings, services = _settings(request)
    people: list[dict[str, Any]] = []
    total = 0
    error = None
    if development_allowed(settings):
        api = services.as_person(picker_token(settings))
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
        unsaved=unsaved,
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
    picker = services.as_person(picker_token(settings))
    try:
        record = await picker.get("reviews", f"/people/{person_id}")
        roles = await development_roles(settings, services, person_id)
    except ApiError:
        return RedirectResponse("/signin", status_code=303)
    if roles is None:
        return RedirectResponse("/signin", status_code=303)
    now = time.time()
    # A short-lived token, minted afresh as it nears its end (web.session), within the sign-in's bound.
    token, expires_at = development_token(
        settings, person_id, roles, min(web_settings.development_token_ttl, web_settings.session_max_age)
    )
    person = Person(
        person_id=str(person_id),
        name=str(record["display_name"]),
        roles=frozenset(role.value for role in roles),
        token=token,
        locale=record.get("locale"),
        timezone=record.get("timezone"),
        expires_at=expires_at,
        how="development",
        ends_at=now + web_settings.session_max_age,
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
    roles = roles_from_claims(claims)
    api = services.as_person(access_token)
    try:
        record: dict[str, Any] = await api.get("reviews", f"/people/{person_id}")
    except ApiError:
        record = {}
    now = time.time()
    refresh_token = token.get("refresh_token")
    person = Person(
        person_id=person_id,
        name=str(record.get("display_name") or claims.get("name") or claims.get("email") or person_id),
        roles=roles,
        token=access_token,
        locale=record.get("locale") or claims.get("locale"),
        timezone=record.get("timezone") or claims.get("zoneinfo"),
        expires_at=float(token.get("expires_at") or now + float(token.get("expires_in") or 300)),
        how="oidc",
        ends_at=now + web_settings.session_max_age,
        refresh_token=sealer(request).seal(str(refresh_token)) if refresh_token else None,
    )
    target = safe_next(request.session.get("next"))
    sign_in(request, person)
    return RedirectResponse(target, status_code=303)


# Sent with the sign-out: the browser empties this site's storage in every tab, so the drafts kept in
# sessionStorage (static/drafts.js) go too, even from a tab whose script never saw the sign-out.
CLEAR_STORAGE = {"Clear-Site-Data": '"storage"'}


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
            return RedirectResponse(f"{end_session}?{query}", status_code=303, headers=CLEAR_STORAGE)
    return RedirectResponse("/signin", status_code=303, headers=CLEAR_STORAGE)
