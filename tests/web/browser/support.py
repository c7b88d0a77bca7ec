"""What the browser tests share: the web app in Chromium over in-process services, sign-in, and an
axe-core check (WCAG 2.1 A/AA) with a screenshot of every page a test opens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from axe_playwright_python.async_playwright import Axe
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from shared.settings import Environment, Settings
from tests.support.waiting import wait_until
from tests.web.conftest import serving
from web.app import create_app
from web.settings import WebBackend, WebSettings

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
BLOCKING = {"serious", "critical"}


async def assert_axe_finds(browser: Browser) -> None:
    """axe-core runs and reports: an image without a text alternative is a critical violation."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.set_content('<html lang="en"><title>x</title><main><img src="data:,"></main></html>')
    results = await Axe().run(page, options=WCAG)
    assert "image-alt" in {v["id"] for v in results.response["violations"] if v.get("impact") in BLOCKING}
    await context.close()


class Pages:
    """Screenshots and accessibility checks of every page the test opens."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.axe = Axe()
        self.count = 0
        self.violations: list[str] = []
        self.checked: list[str] = []

    async def check(self, page: Page, name: str) -> None:
        self.count += 1
        await page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)
        results = await self.axe.run(page, options=WCAG)
        self.checked.append(f"{name} {page.url}")
        for violation in results.response["violations"]:
            if violation.get("impact") in BLOCKING:
                targets = [node.get("target") for node in violation.get("nodes", [])][:3]
                self.violations.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")


async def sign_in(browser: Browser, base: str, name: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=base, locale="en-GB")
    page = await context.new_page()
    await page.goto("/signin")
    await page.get_by_role("button", name=f"Sign in as {name}").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return context, page


async def reload_until(page: Page, ready: Callable[[], Awaitable[bool]], what: str, timeout: float = 90) -> None:
    async def probe() -> bool:
        await page.reload()
        return await ready()

    await wait_until(probe, timeout=timeout, interval=0.5, message=what)


@asynccontextmanager
async def browsing(
    settings: Settings,
    chromium: str,
    services: Mapping[WebBackend, httpx.AsyncClient],
    apps: Mapping[WebBackend, FastAPI] | None = None,
) -> AsyncIterator[tuple[Browser, str]]:
    """The web app (development sign-in) over these in-process services, served on a port, and a
    Chromium on it whose axe-core is first seen to report; yields the browser and the base URL."""
    transports: dict[WebBackend, httpx.AsyncBaseTransport] = {
        name: httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
        for name, client in services.items()
    }
    transports.update({name: httpx.ASGITransport(app=app) for name, app in (apps or {}).items()})
    app = create_app(
        settings.model_copy(update={"environment": Environment.development}), WebSettings(), transports=transports
    )
    async with app.router.lifespan_context(app), serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            await assert_axe_finds(browser)
            yield browser, base
        finally:
            await browser.close()
