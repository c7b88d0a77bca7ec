"""Who is signed in (kept in the signed session cookie) and the CSRF token of every form."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

CSRF_FIELD = "csrf_token"


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
    expires_at: float
    how: str  # "development" or "oidc"

    @property
    def is_hr(self) -> bool:
        return bool(self.roles & {"hr", "admin"})

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles

    def as_session(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "name": self.name,
            "roles": sorted(self.roles),
            "token": self.token,
            "locale": self.locale,
            "timezone": self.timezone,
            "expires_at": self.expires_at,
            "how": self.how,
        }

    @classmethod
    def from_session(cls, data: Any) -> Person | None:
        if not isinstance(data, dict):
            return None
        try:
            person = cls(
                person_id=str(data["person_id"]),
                name=str(data["name"]),
                roles=frozenset(str(role) for role in data["roles"]),
                token=str(data["token"]),
                locale=data.get("locale"),
                timezone=data.get("timezone"),
                expires_at=float(data["expires_at"]),
                how=str(data.get("how", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return person if person.expires_at > time.time() else None


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def sign_in(request: Request, person: Person) -> None:
    """A fresh session (and CSRF token) at every sign-in, so a planted cookie is worth nothing."""
    request.session.clear()
    request.session["person"] = person.as_session()
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


def current_person(request: Request) -> Person:
    person = Person.from_session(request.session.get("person"))
    if person is None:
        raise SignInRequired
    return person


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
