"""Fresh access tokens for a sign-in that outlives one token: the identity provider's refresh_token
grant after an OIDC sign-in, a newly minted token after a development sign-in.

Nothing here knows the session; web.session decides when to refresh and what a failure means."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import OAuthError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.auth import Role, mint_token
from shared.settings import Settings
from web.api import ApiError, Services

log = logging.getLogger("meritloop.web.tokens")

# The identity the development picker lists the directory with; it is not a person of it.
PICKER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://meritloop.dev/web-development-sign-in")
PICKER_TTL_SECONDS = 60
# In the development picker, people of this department sign in with the HR role too (the demo
# organisation's People department); production takes roles from the identity provider.
DEVELOPMENT_HR_DEPARTMENT = "People"
# How long the answer to one refresh token is remembered: a provider that rotates refresh tokens
# refuses the old one, so a request that raced the refresh (or a browser that still sends the older
# cookie) is given the tokens the winner got instead of being signed out.
ROTATION_GRACE_SECONDS = 60.0


class Sealer:
    """Encrypts the refresh token before it goes into the session cookie, which is signed but readable.

    A refresh token read from a leaked cookie (a log, a proxy, a backup of a browser profile) is then
    worth nothing at the provider, even for a public client; inside this app it is still bounded by
    the session's end. The key is derived from MERITLOOP_WEB_SESSION_SECRET, so rotating that secret
    ends every sign-in's refreshing as it already ends the sessions."""

    def __init__(self, session_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"meritloop-web refresh token").derive(
            session_secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, refresh_token: str) -> str:
        return self._fernet.encrypt(refresh_token.encode()).decode()

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise RefreshRefused("the refresh token in the session cannot be opened") from exc


class RefreshRefused(Exception):
    """The provider will not refresh (revoked, expired, rotated away), or the person is gone."""


class ProviderUnavailable(Exception):
    """The provider could not be asked (down, timing out, answering 5xx): nothing is known about the sign-in."""


@dataclass(frozen=True, slots=True)
class Refreshed:
    access_token: str
    expires_at: float
    refresh_token: str | None
    # None when the provider sent no ID token with the refresh: the roles the session has stay.
    roles: frozenset[str] | None


def picker_token(settings: Settings) -> str:
    return mint_token(settings, PICKER_ID, [Role.admin], ttl=timedelta(seconds=PICKER_TTL_SECONDS))


def development_token(settings: Settings, person_id: uuid.UUID, roles: list[Role], seconds: int) -> tuple[str, float]:
    """A development token and when it expires; the expiry is read before minting, so it is never later
    than the token's own whole-second ``exp``."""
    expires_at = float(int(time.time()) + seconds)
    return mint_token(settings, person_id, roles, ttl=timedelta(seconds=seconds)), expires_at


async def development_roles(settings: Settings, services: Services, person_id: uuid.UUID) -> list[Role] | None:
    """The roles a development sign-in gets, read from the directory now; None for an inactive or unknown person.

    Read at every fresh token too, so a person deactivated (or no longer a manager) is not handed new power."""
    picker = services.as_person(picker_token(settings))
    try:
        record = await picker.get("reviews", f"/people/{person_id}")
        reports = await picker.get("reviews", f"/people/{person_id}/reports", limit=1, active="true")
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            return None
        raise
    if not record.get("active", False):
        return None
    roles = [Role.employee]
    if reports["total"]:
        roles.append(Role.manager)
    if record.get("department") == DEVELOPMENT_HR_DEPARTMENT:
        roles.append(Role.hr)
    return roles


def roles_from_claims(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("roles") or []
    return frozenset(str(role) for role in raw if role in Role.__members__) or frozenset({"employee"})


async def refresh_at_provider(client: Any, refresh_token: str, person_id: str) -> Refreshed:
    """One refresh_token grant at the provider's token endpoint (authlib's async client: no blocking call).

    ``client`` is the registered authlib app (``oauth.idp``)."""
    try:
        token: dict[str, Any] = await client.fetch_access_token(grant_type="refresh_token", refresh_token=refresh_token)
    except OAuthError as exc:
        # invalid_grant and friends: the provider answered, and the answer is no.
        raise RefreshRefused(exc.error or "refused") from exc
    except (httpx.HTTPError, ValueError) as exc:
        # Unreachable, timing out, or a 5xx / non-JSON page from a gateway.
        raise ProviderUnavailable(repr(exc)) from exc
    access = str(token.get("access_token") or "")
    if not access:
        raise RefreshRefused("no access token in the answer")
    roles: frozenset[str] | None = None
    if token.get("id_token"):
        try:
            claims = await client.parse_id_token(token, nonce=None)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(repr(exc)) from exc
        except (AuthlibBaseError, ValueError) as exc:
            raise RefreshRefused(f"the new ID token is not valid: {exc}") from exc
        if str(claims.get("sub", "")) != person_id:
            raise RefreshRefused("the new ID token names another person")
        roles = roles_from_claims(dict(claims))
    expires_in = token.get("expires_in")
    expires_at = float(token.get("expires_at") or time.time() + float(expires_in or 300))
    new_refresh = token.get("refresh_token")
    return Refreshed(
        access_token=access,
        expires_at=expires_at,
        refresh_token=str(new_refresh) if new_refresh else refresh_token,
        roles=roles,
    )


class RefreshCoordinator:
    """One refresh per refresh token at a time in this process, and its answer kept for a short grace.

    Two requests of one person that both find the token near its end share one call to the provider;
    a request carrying a refresh token this process has just exchanged gets the same answer."""

    def __init__(self, grace: float = ROTATION_GRACE_SECONDS) -> None:
        self._grace = grace
        self._locks: dict[str, asyncio.Lock] = {}
        self._answers: dict[str, tuple[float, Refreshed]] = {}

    @staticmethod
    def _key(refresh_token: str) -> str:
        # Only a digest is kept as the key, so a dump of this map holds no usable old refresh token.
        return hashlib.sha256(refresh_token.encode()).hexdigest()

    def _forget_old(self, now: float) -> None:
        for key in [key for key, (until, _) in self._answers.items() if until <= now]:
            del self._answers[key]
        for key in [key for key, lock in self._locks.items() if key not in self._answers and not lock.locked()]:
            del self._locks[key]

    async def refresh(
        self,
        refresh_token: str,
        exchange: Callable[[], Awaitable[Refreshed]],
        *,
        margin: float,
        stale: str | None = None,
    ) -> Refreshed:
        """The answer for ``refresh_token``: a remembered one while its access token outlasts ``margin``
        (a provider that does not rotate hands the same refresh token back, so an old answer can be stale)
        and is not ``stale``, an access token a service has refused."""
        now = time.monotonic()
        self._forget_old(now)
        key = self._key(refresh_token)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            known = self._answers.get(key)
            if (
                known is not None
                and known[0] > time.monotonic()
                and known[1].expires_at - time.time() > margin
                and known[1].access_token != stale
            ):
                return known[1]
            answer = await exchange()
            self._answers[key] = (time.monotonic() + self._grace, answer)
            return answer
