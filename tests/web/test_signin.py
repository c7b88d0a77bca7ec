"""Sign-in: the development picker (and its refusal elsewhere), OIDC with PKCE against a real provider,
the session cookie's flags, CSRF on every form, sign-out."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.settings import Environment, Settings
from tests.conftest import ServiceClientFactory
from tests.web.conftest import StackFactory, csrf_of, serving, sign_in_as, web_client
from tests.web.oidc_provider import Provider
from web.app import SESSION_COOKIE, create_app
from web.settings import WebSettings

pytestmark = pytest.mark.database


async def test_development_sign_in_picks_a_person_and_sets_a_safe_cookie(web_stack: StackFactory) -> None:
    async with web_stack() as stack:
        await stack.add_person("Ada Boss", "Engineering")
        await stack.add_person("Ben Report", "Engineering", "Ada Boss", locale="de-DE")
        await stack.add_person("Hedda People", "People")

        page = await stack.web.get("/signin")
        assert page.status_code == 200
        for name in ("Ada Boss", "Ben Report", "Hedda People"):
            assert name in page.text

        # Not signed in: every page sends to the sign-in page, and back afterwards.
        first = await stack.web.get("/hr/cycles")
        assert first.status_code == 303
        assert first.headers["location"] == "/signin?next=/hr/cycles"

        response = await sign_in_as(stack.web, stack.people["Ben Report"], "/goals")
        assert response.headers["location"] == "/goals"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite=lax"} <= flags

        inbox = await stack.web.get("/inbox")
        assert inbox.status_code == 200
        assert 'lang="de"' in inbox.text  # Ben's directory locale is German
        assert "Posteingang" in inbox.text
        assert 'href="/hr/cycles"' not in inbox.text  # no HR link for him
        assert (await stack.web.get("/hr/cycles")).status_code == 403
        assert (await stack.web.get("/team")).status_code == 403

        # A manager (someone reports to her) gets the team page; the People department gets HR pages.
        await sign_in_as(stack.web, stack.people["Ada Boss"])
        team = await stack.web.get("/team")
        assert team.status_code == 200
        assert "Ben Report" in team.text
        assert (await stack.web.get("/hr/cycles")).status_code == 403
        await sign_in_as(stack.web, stack.people["Hedda People"])
        assert (await stack.web.get("/hr/cycles")).status_code == 200


async def test_every_form_needs_the_csrf_token_and_sign_out_ends_the_session(web_stack: StackFactory) -> None:
    async with web_stack() as stack:
        person = await stack.add_person("Cleo Solo", "People")
        page = await stack.web.get("/signin")
        # Without the token, or with another one: refused, and nobody is signed in.
        missing = await stack.web.post("/signin/development", data={"person_id": person})
        assert missing.status_code == 403
        wrong = await stack.web.post("/signin/development", data={"person_id": person, "csrf_token": "x" * 43})
        assert wrong.status_code == 403
        assert (await stack.web.get("/inbox")).status_code == 303
        await sign_in_as(stack.web, person)
        inbox = await stack.web.get("/inbox")
        assert inbox.status_code == 200
        token = csrf_of(inbox.text)
        assert token != csrf_of(page.text)  # a new session (and token) at sign-in
        # A cross-site form post carries the cookie but not the token: refused.
        forged = await stack.web.post("/hr/cycles", data={"name": "forged"})
        assert forged.status_code == 403
        assert (await stack.web.post("/signout", data={})).status_code == 403
        assert (await stack.web.get("/inbox")).status_code == 200  # still signed in
        out = await stack.web.post("/signout", data={"csrf_token": token})
        assert out.status_code == 303
        assert out.headers["location"] == "/signin"
        assert (await stack.web.get("/inbox")).status_code == 303


@pytest.mark.parametrize("environment", [Environment.test, Environment.production])
async def test_development_sign_in_is_refused_outside_development(
    web_stack: StackFactory, environment: Environment
) -> None:
    secret = "s" * 40
    web_settings = WebSettings(session_secret=secret, oidc_issuer="http://127.0.0.1:9/", oidc_client_id="meritloop-web")
    async with web_stack(environment=environment, web_settings=web_settings) as stack:
        person = await stack.add_person("Dora Dev", "People")
        page = await stack.web.get("/signin")
        assert page.status_code == 200
        assert "Dora Dev" not in page.text
        assert "Development sign-in" not in page.text
        refused = await stack.web.post("/signin/development", data={"csrf_token": "t" * 43, "person_id": person})
        assert refused.status_code == 404
        assert (await stack.web.get("/inbox")).status_code == 303


def test_production_refuses_the_development_session_key(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": Environment.production})
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        create_app(production, WebSettings())
    with pytest.raises(ValueError, match="OIDC"):
        create_app(production, WebSettings(session_secret="k" * 40))


async def test_oidc_authorization_code_with_pkce(service_client: ServiceClientFactory, settings: Settings) -> None:
    """The web app signs in at a real provider over HTTP; the reviews service accepts the access token."""
    provider = Provider()
    async with serving(provider.app()) as issuer:
        provider.issuer = issuer
        # The services trust the provider's keys, as in production.
        trusting = settings.model_copy(
            update={"jwt_jwks_url": f"{issuer}/jwks", "jwt_issuer": issuer, "jwt_audience": provider.audience}
        )
        person_id = uuid.uuid4()
        provider.subject = str(person_id)
        provider.roles = ["employee", "hr"]
        provider.locale = "de"
        web_settings = WebSettings(
            oidc_issuer=issuer, oidc_client_id=provider.client_id, oidc_client_secret=provider.client_secret
        )
        from services.reviews.app import create as create_reviews
        from shared.migrations import upgrade_async

        await upgrade_async("reviews", trusting.database_url("reviews"))
        reviews = create_reviews(trusting)
        async with reviews.router.lifespan_context(reviews):
            app = create_app(
                trusting.model_copy(update={"environment": Environment.production}),
                web_settings.model_copy(update={"session_secret": "p" * 40}),
                transports={"reviews": httpx.ASGITransport(app=reviews)},
            )
            async with app.router.lifespan_context(app), web_client(app) as web:
                page = await web.get("/signin")
                assert "/signin/oidc" in page.text
                start = await web.get("/signin/oidc", params={"next": "/hr/cycles"})
                assert start.status_code == 302
                location = urlsplit(start.headers["location"])
                assert f"{location.scheme}://{location.netloc}" == issuer
                params = {key: values[0] for key, values in parse_qs(location.query).items()}
                assert params["code_challenge_method"] == "S256"
                assert len(params["code_challenge"]) >= 43
                assert "code_verifier" not in params
                # The browser follows to the provider, which sends it back with a code.
                async with httpx.AsyncClient() as browser:
                    answer = await browser.get(start.headers["location"])
                assert answer.status_code == 302, answer.text
                back = urlsplit(answer.headers["location"])
                assert back.path == "/signin/callback"

                # A callback with a forged state is refused (no session, no token exchange).
                forged = await web.get("/signin/callback", params={"code": "x", "state": "forged"})
                assert forged.status_code == 400
                callback = await web.get(f"/signin/callback?{back.query}")
                assert callback.status_code == 303, callback.text
                assert callback.headers["location"] == "/hr/cycles"
                assert provider.refused == []
                # The person's access token reaches the reviews service, which verifies it with the JWKS.
                cycles = await web.get("/hr/cycles")
                assert cycles.status_code == 200, cycles.text
                assert 'lang="de"' in cycles.text
                # Sign-out ends the provider's session too (RP-initiated logout), then comes back.
                out = await web.post("/signout", data={"csrf_token": csrf_of(cycles.text)})
                assert out.status_code == 303
                logout = urlsplit(out.headers["location"])
                assert f"{logout.scheme}://{logout.netloc}{logout.path}" == f"{issuer}/logout"
                assert parse_qs(logout.query) == {
                    "client_id": [provider.client_id],
                    "post_logout_redirect_uri": ["https://web/signin"],
                }
                # The code is spent: replaying the callback does not sign anyone in again.
                replay = await web.get(f"/signin/callback?{back.query}")
                assert replay.status_code == 400
                assert (await web.get("/inbox")).status_code == 303
