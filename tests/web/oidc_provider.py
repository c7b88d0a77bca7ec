"""A tiny, real OpenID Connect provider for the sign-in tests: discovery, authorize, token, JWKS.

It signs RS256 tokens with a key made at start, answers the authorization request at once for the
person the test chose (no login form), and insists on PKCE S256: the token endpoint refuses a code
without the right ``code_verifier``. With ``refresh`` on it also hands out refresh tokens and honours
the refresh_token grant (optionally rotating them, as many providers do); ``revoke()`` withdraws them
all. Nothing here is for production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

KID = "test-key-1"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None


@dataclass
class RefreshGrant:
    client_id: str
    subject: str


@dataclass
class Provider:
    issuer: str = ""
    client_id: str = "meritloop-web"
    client_secret: str = "web-client-secret-0123456789abcdef"
    audience: str = "meritloop"
    subject: str = ""
    roles: list[str] = field(default_factory=lambda: ["employee"])
    locale: str | None = None
    grants: dict[str, Grant] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    access_ttl: int = 600
    # The lifetime the token answer claims (expires_in), when it should differ from the token's exp: a
    # token refused before the client expects it, as after a slow request or with clocks apart.
    claimed_ttl: int | None = None
    refresh: bool = False  # hand out refresh tokens
    rotate: bool = False  # a refresh token is spent by its use; the answer carries a new one
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    refreshes: int = 0  # refresh_token grants answered with new tokens

    def revoke(self) -> None:
        self.refresh_tokens.clear()

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> JSONResponse:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "end_session_endpoint": f"{self.issuer}/logout",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                }
            )

        @app.get("/jwks")
        async def jwks() -> JSONResponse:
            return JSONResponse(self.jwks())

        @app.get("/authorize")
        async def authorize(request: Request) -> Response:
            params = dict(request.query_params)
            self.authorize_requests.append(params)
            if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                self.refused.append("no PKCE")
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if params.get("client_id") != self.client_id or params.get("response_type") != "code":
                self.refused.append("bad client or response type")
                return JSONResponse({"error": "unauthorized_client"}, status_code=400)
            code = secrets.token_urlsafe(24)
            self.grants[code] = Grant(
                params["client_id"], params["redirect_uri"], params["code_challenge"], params.get("nonce")
            )
            query = urlencode({"code": code, "state": params.get("state", "")})
            return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

        @app.post("/token")
        async def token(
            request: Request,
            grant_type: str = Form(...),
            code: str | None = Form(None),
            redirect_uri: str | None = Form(None),
            code_verifier: str | None = Form(None),
            refresh_token: str | None = Form(None),
            client_id: str | None = Form(None),
            client_secret: str | None = Form(None),
        ) -> JSONResponse:
            basic = request.headers.get("authorization", "")
            if basic.lower().startswith("basic "):
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            if client_id != self.client_id or client_secret != self.client_secret:
                self.refused.append("bad client credentials")
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if grant_type == "refresh_token":
                held = self.refresh_tokens.get(refresh_token or "")
                if held is None or held.client_id != client_id:
                    self.refused.append("unknown refresh token")
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": "refresh token revoked"}, status_code=400
                    )
                if self.rotate:
                    del self.refresh_tokens[refresh_token or ""]
                self.refreshes += 1
                return JSONResponse(self._tokens(held.subject, nonce=None, new_refresh=self.rotate))
            grant = self.grants.pop(code or "", None)
            if grant is None or grant_type != "authorization_code":
                self.refused.append("unknown code")
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if redirect_uri != grant.redirect_uri:
                self.refused.append("redirect_uri differs")
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            expected = base64.urlsafe_b64encode(hashlib.sha256((code_verifier or "").encode()).digest()).rstrip(b"=")
            if expected.decode() != grant.code_challenge:
                self.refused.append("PKCE verifier does not match")
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(self._tokens(self.subject, nonce=grant.nonce, new_refresh=True))

        return app

    def _tokens(self, subject: str, *, nonce: str | None, new_refresh: bool) -> dict[str, Any]:
        """An access and ID token with the roles the test set now (a refresh carries today's roles)."""
        now = int(time.time())
        base = {"iss": self.issuer, "sub": subject, "iat": now, "exp": now + self.access_ttl}
        id_claims = {**base, "aud": self.client_id, "roles": self.roles, "name": "Signed In Person"}
        if nonce:
            id_claims["nonce"] = nonce
        if self.locale:
            id_claims["locale"] = self.locale
        answer: dict[str, Any] = {
            "access_token": self.sign({**base, "aud": self.audience, "roles": self.roles}),
            "token_type": "Bearer",
            "expires_in": self.access_ttl if self.claimed_ttl is None else self.claimed_ttl,
            "id_token": self.sign(id_claims),
        }
        if self.refresh and new_refresh:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = RefreshGrant(self.client_id, subject)
            answer["refresh_token"] = refresh
        return answer
