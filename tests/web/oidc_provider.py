"""A tiny, real OpenID Connect provider for the sign-in tests: discovery, authorize, token, JWKS.

It signs RS256 tokens with a key made at start, answers the authorization request at once for the
person the test chose (no login form), and insists on PKCE S256: the token endpoint refuses a code
without the right ``code_verifier``. Nothing here is for production.
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
            code: str = Form(...),
            redirect_uri: str = Form(...),
            code_verifier: str | None = Form(None),
            client_id: str | None = Form(None),
            client_secret: str | None = Form(None),
        ) -> JSONResponse:
            basic = request.headers.get("authorization", "")
            if basic.lower().startswith("basic "):
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            grant = self.grants.pop(code, None)
            if grant is None or grant_type != "authorization_code":
                self.refused.append("unknown code")
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if client_id != self.client_id or client_secret != self.client_secret:
                self.refused.append("bad client credentials")
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if redirect_uri != grant.redirect_uri:
                self.refused.append("redirect_uri differs")
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            expected = base64.urlsafe_b64encode(hashlib.sha256((code_verifier or "").encode()).digest()).rstrip(b"=")
            if expected.decode() != grant.code_challenge:
                self.refused.append("PKCE verifier does not match")
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            base = {"iss": self.issuer, "sub": self.subject, "iat": now, "exp": now + 600}
            id_claims = {**base, "aud": self.client_id, "roles": self.roles, "name": "Signed In Person"}
            if grant.nonce:
                id_claims["nonce"] = grant.nonce
            if self.locale:
                id_claims["locale"] = self.locale
            access = self.sign({**base, "aud": self.audience, "roles": self.roles})
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": 600,
                    "id_token": self.sign(id_claims),
                }
            )

        return app
