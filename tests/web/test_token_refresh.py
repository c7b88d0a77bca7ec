"""A sign-in outlives its access token: refreshed at a real OIDC provider (or minted afresh in development)
near expiry, ended cleanly when the provider refuses, kept when the provider is down, bounded by
MERITLOOP_WEB_SESSION_MAX_AGE; a form posted after the sign-in ended brings the person back to its page.

Lifetimes are a few seconds (settings), so the tests wait seconds, not minutes."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from shared.settings import Environment, Settings
from tests.conftest import ServiceClientFactory
from tests.support.processes import free_port
from tests.web.conftest import StackFactory, csrf_of, serving, sign_in_as, web_client
from tests.web.oidc_provider import Provider
from web.app import SESSION_COOKIE, create_app
from web.pages import PHASES
from web.session import safe_next
from web.settings import WebSettings
from web.tokens import Sealer

pytestmark = pytest.mark.database


# Each is a way to name another host that browsers follow (a backslash reads as a slash to them, and
# they drop tabs and newlines from a URL).
OTHER_SITES = [
    "/\t/evil.example",
    "/\r\n/evil.example",
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
]


def session_of(web: httpx.AsyncClient) -> dict[str, Any]:
    """What the (signed, not encrypted) session cookie holds: base64 JSON before the signature."""
    raw = web.cookies.get(SESSION_COOKIE)
    if raw is None:
        return {}
    data = raw.strip('"').split(".")[0]
    found: dict[str, Any] = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
    return found


async def wait_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


class ProviderServer:
    """The test provider on a fixed port, so it can be stopped and started again at the same issuer."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._running: AsyncExitStack | None = None

    async def start(self) -> None:
        self._running = AsyncExitStack()
        await self._running.enter_async_context(serving(self.provider.app(), self.port))

    async def stop(self) -> None:
        if self._running is not None:
            await self._running.aclose()
            self._running = None


@asynccontextmanager
async def oidc_signed_in(
    settings: Settings, provider: Provider, **web_settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, ProviderServer, FastAPI]]:
    """The web app (production, OIDC only) over the reviews service, signed in at ``provider``."""
    from services.reviews.app import create as create_reviews
    from shared.migrations import upgrade_async

    server = ProviderServer(provider)
    await server.start()
    try:
        provider.issuer = server.url
        provider.subject = str(uuid.uuid4())
        trusting = settings.model_copy(
            update={"jwt_jwks_url": f"{server.url}/jwks", "jwt_issuer": server.url, "jwt_audience": provider.audience}
        )
        await upgrade_async("reviews", trusting.database_url("reviews"))
        reviews = create_reviews(trusting)
        async with reviews.router.lifespan_context(reviews):
            app = create_app(
                trusting.model_copy(update={"environment": Environment.production}),
                WebSettings(
                    oidc_issuer=server.url,
                    oidc_client_id=provider.client_id,
                    oidc_client_secret=provider.client_secret,
                    session_secret="p" * 40,
                    **web_settings,
                ),
                transports={"reviews": httpx.ASGITransport(app=reviews)},
            )
            async with app.router.lifespan_context(app), web_client(app) as web:
                start = await web.get("/signin/oidc", params={"next": "/hr/cycles"})
                async with httpx.AsyncClient() as browser:
                    answer = await browser.get(start.headers["location"])
                callback = await web.get(f"/signin/callback?{urlsplit(answer.headers['location']).query}")
                assert callback.status_code == 303, callback.text
                yield web, server, app
    finally:
        await server.stop()


async def test_an_expired_access_token_is_refreshed_and_roles_come_from_the_new_token(
    service_client: ServiceClientFactory, settings: Settings
) -> None:
    provider = Provider(refresh=True, access_ttl=3, roles=["employee", "hr"])
    async with oidc_signed_in(settings, provider, token_refresh_margin=1) as (web, _server, _app):
        first = await web.get("/hr/cycles")
        assert first.status_code == 200, first.text
        kept = session_of(web)["person"]
        # The cookie is signed, not encrypted: the refresh token in it is sealed, never in the clear.
        [issued] = provider.refresh_tokens
        assert issued not in json.dumps(session_of(web))
        assert Sealer("p" * 40).unseal(kept["refresh_token"]) == issued
        assert issued not in first.text
        assert kept["refresh_token"] not in first.text
        # Counted from here: a slow first page (a loaded machine) may already have renewed the token.
        provider.refreshes = 0

        # The access token expires: the reviews service would refuse it (no leeway), so a 200 means renewed.
        await wait_until(kept["expires_at"] + 0.2)
        page = await web.get("/hr/cycles")
        assert page.status_code == 200, page.text
        assert provider.refreshes == 1
        renewed = session_of(web)["person"]
        assert renewed["token"] != kept["token"]
        assert renewed["expires_at"] > time.time() + 1
        assert renewed["ends_at"] == kept["ends_at"]  # a refresh never extends the whole sign-in
        assert (await web.get("/hr/cycles")).status_code == 200
        assert provider.refreshes == 1  # the fresh token is used, not refreshed again

        # HR is taken away at the provider: the next refresh narrows the sign-in.
        provider.roles = ["employee"]
        await wait_until(renewed["expires_at"] + 0.2)
        assert (await web.get("/hr/cycles")).status_code == 403
        assert provider.refreshes == 2
        assert session_of(web)["person"]["roles"] == ["employee"]


async def test_a_revoked_refresh_token_sends_the_person_to_sign_in(
    service_client: ServiceClientFactory, settings: Settings
) -> None:
    provider = Provider(refresh=True, access_ttl=3)
    async with oidc_signed_in(settings, provider, token_refresh_margin=1) as (web, _server, _app):
        assert (await web.get("/inbox")).status_code == 200
        expires_at = session_of(web)["person"]["expires_at"]
        provider.revoke()
        provider.refreshes = 0
        await wait_until(expires_at + 0.2)
        ended = await web.get("/inbox")
        assert ended.status_code == 303
        assert ended.headers["location"] == "/signin?next=/inbox"
        assert "unknown refresh token" in provider.refused
        assert "person" not in session_of(web)  # the session is cleared, not left to fail again
        assert (await web.get("/inbox")).status_code == 303
        assert provider.refreshes == 0
        # With company sign-in only (no development section), the page still says a change was lost.
        english = await web.get("/signin", params={"next": "/inbox", "unsaved": "1"})
        assert "your last change was not saved" in english.text
        german = await web.get("/signin", params={"unsaved": "1"}, headers={"accept-language": "de"})
        assert "Ihre letzte Änderung nicht gespeichert" in german.text
        assert "not saved" not in (await web.get("/signin")).text


async def test_a_token_refused_before_its_time_is_renewed_and_the_call_sent_again(
    service_client: ServiceClientFactory, settings: Settings
) -> None:
    # The provider says ten minutes; its tokens last two seconds. The web app takes them for valid, so
    # only the services' 401 can tell, as when a page's calls outlive the token on a slow request.
    provider = Provider(refresh=True, access_ttl=2, claimed_ttl=600, roles=["employee", "hr"])
    async with oidc_signed_in(settings, provider, token_refresh_margin=1) as (web, _server, _app):
        kept = session_of(web)["person"]
        await asyncio.sleep(2.2)
        # The cycles page makes several calls together: each is refused, and the token is renewed once.
        page = await web.get("/hr/cycles")
        assert page.status_code == 200, page.headers.get("location")
        assert provider.refreshes == 1
        renewed = session_of(web)["person"]
        assert renewed["token"] != kept["token"]
        assert renewed["ends_at"] == kept["ends_at"]

        # A posted form, too, is sent again rather than lost: the reviews service answers it (an unknown
        # template), where without the renewal its 401 would have ended the sign-in.
        form = await web.get("/hr/cycles/new")
        await asyncio.sleep(2.2)
        deadlines = {f"deadline_{phase}": f"2031-0{month}-15" for month, phase in enumerate(PHASES, start=1)}
        posted = await web.post(
            "/hr/cycles",
            data={
                "csrf_token": csrf_of(form.text),
                "name": "Renewed mid-form",
                "period_start": "2030-01-01",
                "period_end": "2030-12-31",
                "template_id": str(uuid.uuid4()),
                **deadlines,
            },
        )
        assert posted.status_code == 422, posted.headers.get("location")
        assert "Renewed mid-form" in posted.text
        # Renewed for the post; on a busy machine the new two-second token may also run out while
        # the form is drawn again, and is renewed once more then.
        assert provider.refreshes >= 2
        renewed_so_far = provider.refreshes

        # Refused again, and the provider no longer renews: the sign-in ends, cleared, not left to fail.
        provider.revoke()
        await asyncio.sleep(2.2)
        ended = await web.get("/inbox")
        assert ended.status_code == 303
        assert ended.headers["location"] == "/signin?next=/inbox"
        assert "person" not in session_of(web)
        assert provider.refreshes == renewed_so_far


async def test_concurrent_requests_share_one_refresh_and_a_rotated_token_is_not_a_sign_out(
    service_client: ServiceClientFactory, settings: Settings
) -> None:
    provider = Provider(refresh=True, rotate=True, access_ttl=3)
    async with oidc_signed_in(settings, provider, token_refresh_margin=1) as (web, _server, app):
        old_cookie = web.cookies[SESSION_COOKIE]
        await wait_until(session_of(web)["person"]["expires_at"] + 0.2)
        pages = await asyncio.gather(*(web.get("/inbox") for _ in range(3)))
        assert [page.status_code for page in pages] == [200, 200, 200]
        assert provider.refreshes == 1
        # A browser whose last cookie write was the loser's still sends the spent refresh token:
        # the provider refuses it, the web app remembers what it got for it a moment ago.
        async with web_client(app) as stale:
            again = await stale.get("/inbox", headers={"cookie": f"{SESSION_COOKIE}={old_cookie}"})
            assert again.status_code == 200, again.headers.get("location")
        assert provider.refreshes == 1


async def test_a_provider_that_is_down_gives_an_error_page_and_keeps_the_sign_in(
    service_client: ServiceClientFactory, settings: Settings
) -> None:
    # A token of 12 s: stopping the provider's server can take seconds on a loaded machine, and
    # the first page must still come while the token is valid.
    provider = Provider(refresh=True, access_ttl=12)
    async with oidc_signed_in(settings, provider, token_refresh_margin=10) as (web, server, _app):
        expires_at = session_of(web)["person"]["expires_at"]
        await server.stop()
        # Within the margin but still valid: the page works with the token it has.
        await wait_until(expires_at - 7)
        assert (await web.get("/inbox")).status_code == 200
        # Expired, and the provider cannot be asked: a clear page, not a 500, and not a sign-out.
        await wait_until(expires_at + 0.2)
        down = await web.get("/inbox")
        assert down.status_code == 502
        assert "identity provider cannot be reached" in down.text
        assert "person" in session_of(web)
        await server.start()
        back = await web.get("/inbox")
        assert back.status_code == 200, back.headers.get("location")
        assert provider.refreshes == 1


async def test_the_development_sign_in_outlives_its_token_until_the_session_max_age(web_stack: StackFactory) -> None:
    short = WebSettings(development_token_ttl=2, token_refresh_margin=1, session_max_age=5)
    async with web_stack(web_settings=short) as stack:
        person = await stack.add_person("Mara Long", "Engineering")
        await sign_in_as(stack.web, person)
        began = session_of(stack.web)["person"]
        assert began["expires_at"] - time.time() <= 2
        assert (await stack.web.get("/inbox")).status_code == 200
        await wait_until(began["expires_at"] + 0.2)
        # The first token has expired (the reviews service refuses it); the page works on a new one.
        assert (await stack.web.get("/inbox")).status_code == 200
        renewed = session_of(stack.web)["person"]
        assert renewed["token"] != began["token"]
        assert renewed["ends_at"] == began["ends_at"]
        # The whole sign-in ends after session_max_age, however fresh its token.
        await wait_until(began["ends_at"] + 0.2)
        ended = await stack.web.get("/inbox")
        assert ended.status_code == 303
        assert ended.headers["location"] == "/signin?next=/inbox"
        assert "person" not in session_of(stack.web)


async def test_a_development_refresh_drops_a_deactivated_person(web_stack: StackFactory) -> None:
    # A margin as long as the token: every request mints a fresh one, while the current one is still valid.
    every_time = WebSettings(development_token_ttl=60, token_refresh_margin=60)
    async with web_stack(web_settings=every_time) as stack:
        person = await stack.add_person("Lea Leaving", "Engineering")
        await sign_in_as(stack.web, person)
        assert (await stack.web.get("/inbox")).status_code == 200
        gone = await stack.services["reviews"].patch(
            f"/people/{person}", json={"active": False}, headers=stack.hr_headers
        )
        assert gone.status_code == 200, gone.text
        # Not a fresh token for someone who has left: the sign-in ends (the services alone would answer 403).
        ended = await stack.web.get("/inbox")
        assert ended.status_code == 303
        assert "person" not in session_of(stack.web)


async def test_a_form_posted_after_the_sign_in_ended_returns_to_its_page_and_says_so(web_stack: StackFactory) -> None:
    async with web_stack(web_settings=WebSettings(session_max_age=2, development_token_ttl=2)) as stack:
        person = await stack.add_person("Nia Slow", "Engineering", locale="en")
        await sign_in_as(stack.web, person)
        form_page = f"/goals/{uuid.uuid4()}?tab=check-ins"
        await wait_until(session_of(stack.web)["person"]["ends_at"] + 0.2)
        lost = await stack.web.post(
            f"/goals/{uuid.uuid4()}/check-ins",
            data={"csrf_token": "x" * 43, "note": "a long review"},
            headers={"referer": f"https://web{form_page}"},
        )
        assert lost.status_code == 303
        location = urlsplit(lost.headers["location"])
        assert location.path == "/signin"
        assert parse_qs(location.query) == {"next": [form_page], "unsaved": ["1"]}
        signin = await stack.web.get(lost.headers["location"])
        assert "your last change was not saved" in signin.text
        back = await sign_in_as(stack.web, person, form_page)
        assert back.headers["location"] == form_page

        # A Referer of another site is not followed.
        stack.web.cookies.clear()
        elsewhere = await stack.web.post(
            "/goals/x/check-ins", data={"note": "n"}, headers={"referer": "https://evil.example/goals/x"}
        )
        assert parse_qs(urlsplit(elsewhere.headers["location"]).query)["next"] == ["/"]


async def test_next_refuses_other_sites(web_stack: StackFactory) -> None:
    async with web_stack() as stack:
        person = await stack.add_person("Ona Safe", "Engineering")
        for target in OTHER_SITES:
            assert safe_next(target) == "/", target
            response = await sign_in_as(stack.web, person, target)
            assert response.headers["location"] == "/", target
        response = await sign_in_as(stack.web, person, "/goals?tab=x")
        assert response.headers["location"] == "/goals?tab=x"
