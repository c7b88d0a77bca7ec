"""Who is signed in (kept in the signed session cookie), keeping their access token fresh, and the CSRF
token of every form."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from fastapi import Depends, Request
from starlette.datastructures import FormData

from web.api import ApiError
from web.tokens import (
    ProviderUnavailable,
    RefreshCoordinator,
    Refreshed,
    RefreshRefused,
    Sealer,
    development_roles,
    development_token,
    refresh_at_provider,
)

CSRF_FIELD = "csrf_token"
log = logging.getLogger("meritloop.web.session")


class SignInRequired(Exception):
    """No (or an expired) sign-in: the page answers with a redirect to the sign-in page."""


class CsrfRefused(Exception):
    """A form came without the session's CSRF token."""


class NotAllowed(Exception):
    """The signed-in person lacks the role a page needs."""


@dataclass(frozen=True, slots=True)
class Person:
    person_id: str
    name: str
    roles: frozenset[str]
    token: str
    locale: str | None
    timezone: str | None
    expires_at: float  # of the access token
    how: str  # "development" or "oidc"
    # The end of the whole sign-in (MERITLOOP_WEB_SESSION_MAX_AGE after it began): refreshing never moves it.
    ends_at: float = 0.0
    # The provider's refresh token, sealed (web.tokens.Sealer); it lives only in the HttpOnly session
    # cookie, never in a page.
    refresh_token: str | None = None

    @property
    def is_hr(self) -> bool:
        return bool(self.roles & {"hr", "admin"})

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles

    def as_session(self) -> dict[str, Any]:
        data = {
            "person_id": self.person_id,
            "name": self.name,
            "roles": sorted(self.roles),
            "token": self.token,
            "locale": self.locale,
            "timezone": self.timezone,
            "expires_at": self.expires_at,
            "how": self.how,
            "ends_at": self.ends_at,
        }
        if self.refresh_token:
            data["refresh_token"] = self.refresh_token
        return data

    @classmethod
    def from_session(cls, data: Any) -> Person | None:
        """The person of a sign-in that has not reached its end (their access token may need refreshing)."""
        if not isinstance(data, dict):
            return None
        try:
            refresh = data.get("refresh_token")
            person = cls(
                person_id=str(data["person_id"]),
                name=str(data["name"]),
                roles=frozenset(str(role) for role in data["roles"]),
                token=str(data["token"]),
                locale=data.get("locale"),
                timezone=data.get("timezone"),
                expires_at=float(data["expires_at"]),
                how=str(data.get("how", "")),
                ends_at=float(data["ends_at"]),
                refresh_token=str(refresh) if refresh else None,
            )
        except (KeyError, TypeError, ValueError):
            return None
        return person if person.ends_at > time.time() else None

    @property
    def token_valid(self) -> bool:
        return self.expires_at > time.time()


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to another host."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        # Browsers read a backslash as a slash, so /\evil.example is //evil.example to them.
        or "\\" in target
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
        or urlsplit(target).netloc
    ):
        return "/"
    return target


def signin_location(request: Request) -> str:
    """Where a request without a (still valid) sign-in is sent: the sign-in page, then back.

    A page comes back to itself. A posted form cannot be replayed by a redirect, so the person comes
    back to the page the form was on (its Referer, when it is of this site) and the sign-in page says
    that their last change was not saved."""
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"/signin?next={quote(target)}"
    page = "/"
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.url.netloc and referer.scheme == request.url.scheme:
        page = safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return f"/signin?{urlencode({'next': page, 'unsaved': '1'})}"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


# Browsers drop a cookie over 4096 bytes without a word; the signature and attributes take about 100.
COOKIE_BUDGET = 3900


def sign_in(request: Request, person: Person) -> None:
    """A fresh session (and CSRF token) at every sign-in, so a planted cookie is worth nothing."""
    request.session.clear()
    request.session["person"] = person.as_session()
    csrf_token(request)
    size = len(base64.b64encode(json.dumps(request.session).encode()))
    if size > COOKIE_BUDGET:
        # A provider with large tokens (many roles or groups in them) would sign people out at once.
        log.warning(
            "the session cookie is %d bytes, near or over the 4096 browsers keep: trim the provider's tokens", size
        )


def sign_out(request: Request) -> None:
    request.session.clear()


def _coordinator(request: Request) -> RefreshCoordinator:
    state = request.app.state
    found: RefreshCoordinator | None = getattr(state, "token_refreshes", None)
    if found is None:
        found = RefreshCoordinator()
        state.token_refreshes = found
    return found


def sealer(request: Request) -> Sealer:
    state = request.app.state
    found: Sealer | None = getattr(state, "refresh_sealer", None)
    if found is None:
        found = Sealer(state.web_settings.session_secret)
        state.refresh_sealer = found
    return found


async def _refreshed_oidc(request: Request, person: Person, *, stale: str | None = None) -> Person:
    oauth = request.app.state.oauth
    if oauth is None or not person.refresh_token:
        raise RefreshRefused("no refresh token")
    seal = sealer(request)
    refresh_token = seal.unseal(person.refresh_token)

    async def exchange() -> Refreshed:
        return await refresh_at_provider(oauth.idp, refresh_token, person.person_id)

    margin = request.app.state.web_settings.token_refresh_margin
    answer = await _coordinator(request).refresh(refresh_token, exchange, margin=margin, stale=stale)
    return replace(
        person,
        token=answer.access_token,
        expires_at=answer.expires_at,
        refresh_token=seal.seal(answer.refresh_token) if answer.refresh_token else None,
        # Roles come from the new ID token: a refresh never keeps a role the provider took away.
        roles=answer.roles if answer.roles is not None else person.roles,
    )


async def _refreshed_development(request: Request, person: Person) -> Person:
    state = request.app.state
    try:
        roles = await development_roles(state.settings, state.services, uuid.UUID(person.person_id))
    except (ApiError, httpx.TransportError) as exc:
        # The directory stands in for the provider here: it being down is not a refusal.
        raise ProviderUnavailable(repr(exc)) from exc
    if roles is None:
        raise RefreshRefused("the person is no longer active")
    # The token never outlives the sign-in it belongs to.
    seconds = max(1, min(state.web_settings.development_token_ttl, int(person.ends_at - time.time())))
    token, expires_at = development_token(state.settings, uuid.UUID(person.person_id), roles, seconds)
    return replace(
        person,
        token=token,
        expires_at=expires_at,
        roles=frozenset(role.value for role in roles),
    )


async def fresh_person(request: Request, person: Person, *, refused: bool = False) -> Person:
    """``person`` with an access token that outlasts the refresh margin, stored in the session.

    The provider's refusal (revoked, expired) ends the sign-in once the current token has expired; while
    it is still valid the person carries on with it, because a provider that rotates refresh tokens
    refuses the loser of two simultaneous refreshes. A development person no longer active in the
    directory is signed out at once. A provider that cannot be reached never ends a sign-in:
    with an expired token the person gets an error page and tries again.

    ``refused``: a service has just refused the person's token, so it is renewed whatever its expiry says,
    and counts as expired."""
    margin = request.app.state.web_settings.token_refresh_margin
    if not refused and person.expires_at - time.time() > margin:
        return person
    valid = person.token_valid and not refused
    try:
        if person.how == "oidc":
            renewed = await _refreshed_oidc(request, person, stale=person.token if refused else None)
        elif person.how == "development":
            renewed = await _refreshed_development(request, person)
        else:
            raise RefreshRefused(f"a sign-in of kind {person.how!r} cannot be refreshed")
    except RefreshRefused as exc:
        if person.how == "development" or not valid:
            log.info("sign-in of %s ended: refresh refused (%s)", person.person_id, exc)
            sign_out(request)
            raise SignInRequired from exc
        log.info("refresh refused for %s while the token is still valid (%s); keeping it", person.person_id, exc)
        return person
    except ProviderUnavailable as exc:
        log.warning("the identity provider cannot refresh a token: %s", exc)
        if valid:
            return person
        raise ApiError(
            status=503,
            title="Identity provider unavailable",
            detail="Your sign-in could not be renewed because the identity provider cannot be reached. "
            "You are still signed in: try again in a moment.",
        ) from exc
    request.session["person"] = renewed.as_session()
    return renewed


async def renewed_token(request: Request, refused: str) -> str:
    """A new access token for the signed-in person after a service refused ``refused`` (see ``Api``)."""
    person = Person.from_session(request.session.get("person"))
    if person is None:
        raise SignInRequired
    if person.token != refused:
        return person.token  # renewed already, by another call of this request
    return (await fresh_person(request, person, refused=True)).token


async def current_person(request: Request) -> Person:
    data = request.session.get("person")
    person = Person.from_session(data)
    if person is None:
        if data is not None:
            # A sign-in past its end (or a cookie of an older layout): nothing of it is kept.
            sign_out(request)
        raise SignInRequired
    return await fresh_person(request, person)


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise CsrfRefused
    return form


def require_hr(person: Annotated[Person, Depends(current_person)]) -> Person:
    if not person.is_hr:
        raise NotAllowed
    return person


def require_manager(person: Annotated[Person, Depends(current_person)]) -> Person:
    if not (person.is_manager or person.is_hr):
        raise NotAllowed
    return person


SignedIn = Annotated[Person, Depends(current_person)]
HRPerson = Annotated[Person, Depends(require_hr)]
ManagerPerson = Annotated[Person, Depends(require_manager)]
CheckedForm = Annotated[FormData, Depends(checked_form)]
