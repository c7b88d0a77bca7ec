"""Bearer-token authentication: who is calling, and which roles they hold.

Tokens are OIDC-style JWTs. ``sub`` is the person id (a UUID), ``roles`` a list of role
names. Development and tests sign with an HS256 secret; production verifies against the
identity provider's JWKS.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import Forbidden, PersonInactive, Unauthorized
from shared.settings import Settings

ALGORITHMS_BY_KEY = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class Role(StrEnum):
    employee = "employee"
    manager = "manager"
    hr = "hr"
    admin = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    person_id: uuid.UUID
    roles: frozenset[Role]

    def has_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


def mint_token(
    settings: Settings,
    person_id: uuid.UUID,
    roles: Iterable[Role | str],
    *,
    ttl: timedelta = timedelta(hours=8),
) -> str:
    """Sign a development token; production tokens come from the identity provider."""
    now = int(time.time())
    claims = {
        "sub": str(person_id),
        "roles": [Role(role).value for role in roles],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl.total_seconds()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


class JWKSCache:
    """Keys of the identity provider, fetched without blocking and refreshed on an unknown kid."""

    def __init__(self, url: str, *, min_refresh_seconds: float = 60.0) -> None:
        self._url = url
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds

    async def key_for(self, kid: str) -> Any:
        if kid not in self._keys and time.monotonic() - self._fetched_at > self._min_refresh:
            await self._refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized("The token was signed with an unknown key.") from None

    async def _refresh(self) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self._url)
            response.raise_for_status()
        jwk_set = jwt.PyJWKSet.from_dict(response.json())
        self._keys = {key.key_id: key.key for key in jwk_set.keys if key.key_id}
        self._fetched_at = time.monotonic()


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks = JWKSCache(settings.jwt_jwks_url) if settings.jwt_jwks_url else None

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The bearer token is malformed.") from None
        if self._jwks is not None:
            key: Any = await self._jwks.key_for(str(header.get("kid", "")))
            algorithms = ALGORITHMS_BY_KEY
        else:
            key, algorithms = self._settings.jwt_secret, ["HS256"]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": ["sub", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The bearer token has expired.") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("The bearer token's signature is not valid.") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The bearer token is not valid: {exc}.") from None
        return _principal_from(claims)


def _principal_from(claims: dict[str, Any]) -> Principal:
    try:
        person_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthorized("The token's subject is not a person id.") from None
    raw_roles = claims.get("roles", [])
    if not isinstance(raw_roles, list):
        raise Unauthorized("The token's roles claim must be a list.")
    roles = frozenset(Role(role) for role in raw_roles if role in Role.__members__)
    if not roles:
        # No role is no right: reading it as "employee" gave a token meant for nothing
        # (or for a role this platform does not know) an employee's access.
        raise Forbidden("The token grants none of the roles employee, manager, hr or admin.")
    return Principal(person_id=person_id, roles=roles)


class PersonStatus:
    """Whether a person may still act, from the service's own people table (its directory or projection).

    A token stays valid until it expires, so employment ending must end access here: each
    service refuses a person its people table holds as inactive. Answers are cached for
    ``ttl`` seconds, so a deactivation takes effect at most that long after the event is
    applied. A person the table does not hold (not synced yet) passes: the token's signature
    is the proof of identity, the table only revokes.
    """

    def __init__(self, engine: AsyncEngine, table: Table, *, ttl: float = 2.0, max_entries: int = 10_000) -> None:
        self._engine = engine
        self._query = select(table.c.active)
        self._id = table.c.id
        self._ttl = ttl
        self._max_entries = max_entries
        self._cache: dict[uuid.UUID, tuple[bool, float]] = {}

    async def is_inactive(self, person_id: uuid.UUID) -> bool:
        now = time.monotonic()
        cached = self._cache.get(person_id)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        async with self._engine.connect() as connection:
            active = await connection.scalar(self._query.where(self._id == person_id))
        inactive = active is not None and not active
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[person_id] = (inactive, now)
        return inactive


async def current_principal(request: Request) -> Principal:
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if not authorization:
        raise Unauthorized("A bearer token is required.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(token.strip())
    status: PersonStatus | None = getattr(request.app.state, "person_status", None)
    if status is not None and await status.is_inactive(principal.person_id):
        raise PersonInactive("This person is no longer active: their access ended with their employment.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only callers holding one of ``roles``."""
    allowed = ", ".join(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise Forbidden(f"This action needs one of the roles: {allowed}.")
        return principal

    return dependency


HRPrincipal = Annotated[Principal, Depends(require_roles(Role.hr, Role.admin))]
