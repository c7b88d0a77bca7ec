"""A person's 1:1s as a calendar subscription in the pages, over the real feedback service (and NATS):
the address is shown once, polled without a sign-in, replaced and stopped by its owner only, dead once
the owner leaves, and its secret stays out of the web app's access log."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from tests.conftest import TokenFactory
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of, web_client
from tests.web.test_checkin_actions import cast, start_series
from web.calendar_pages import RedactedAccessLog

pytestmark = pytest.mark.database

ADDRESS = re.compile(r'id="address" type="text" readonly value="https?://[^/"]+(/calendar/[A-Za-z0-9_-]+\.ics)"')


async def subscribe(client: httpx.AsyncClient) -> str:
    page = await client.get("/calendar")
    made = await client.post("/calendar", data={"csrf_token": csrf_of(page.text)})
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    assert "it is shown only this once" in made.text
    found = ADDRESS.search(made.text)
    assert found is not None, made.text
    return found.group(1)


def test_the_access_log_keeps_the_address_without_its_secret() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/calendar/s3cr3t-Token_x.ics", "1.1", 200),
        None,
    )
    assert RedactedAccessLog().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /calendar/….ics HTTP/1.1" 200'
    other = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %s %s", ("a", "GET", "/inbox"), None)
    assert RedactedAccessLog().filter(other)
    assert other.getMessage() == "a GET /inbox"


async def test_subscribe_poll_renew_and_stop(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "feedback") as stack:
        clients = await cast(stack, auth)
        mona, emil = clients["Mona Manager"], clients["Emil Employee"]
        try:
            await start_series(mona, stack.people["Emil Employee"])
            page = await mona.get("/calendar")
            assert page.status_code == 200
            assert "You have no address yet." in page.text
            assert 'href="/calendar"' in (await mona.get("/checkins")).text

            address = await subscribe(mona)
            again = await mona.get("/calendar")
            assert "You have an address, made on" in again.text
            assert address not in again.text  # shown once only

            # A calendar application: no cookie, no token, just the address.
            async with web_client(stack.app) as calendar_app:
                polled = await calendar_app.get(address)
                assert polled.status_code == 200, polled.text
                assert polled.headers["content-type"] == "text/calendar; charset=utf-8"
                assert polled.headers["cache-control"] == "private, no-store"
                assert "SUMMARY:1:1: Mona Manager and Emil Employee" in polled.text
                assert "X-WR-CALNAME:Meritloop 1:1s" in polled.text
                # Guessed, malformed or foreign-looking addresses: a bare 404, no page, no sign-in.
                for wrong in ("/calendar/" + "A" * 43 + ".ics", "/calendar/x.ics", "/calendar/" + "A" * 101 + ".ics"):
                    answer = await calendar_app.get(wrong)
                    assert answer.status_code == 404, wrong
                    assert answer.headers["content-type"].startswith("text/plain")
                assert (await calendar_app.get("/calendar/%2e%2e%2fx.ics")).status_code == 404

                # Emil's own address is his; Mona's is unaffected by it.
                emils = await subscribe(emil)
                assert (await calendar_app.get(emils)).status_code == 200
                # A new address stops the old one.
                renewed = await subscribe(mona)
                assert renewed != address
                assert (await calendar_app.get(address)).status_code == 404
                assert (await calendar_app.get(renewed)).status_code == 200
                # Stopped.
                token = csrf_of((await mona.get("/calendar")).text)
                stopped = await mona.post("/calendar/stop", data={"csrf_token": token})
                assert stopped.status_code == 303
                assert "The address is stopped" in (await mona.get(stopped.headers["location"])).text
                assert (await calendar_app.get(renewed)).status_code == 404
                assert (await calendar_app.get(emils)).status_code == 200
                # No CSRF token: refused before the service is asked.
                assert (await mona.post("/calendar")).status_code == 403
                assert (await mona.post("/calendar/stop", data={"csrf_token": "x"})).status_code == 403

                # Everyone signed in manages their own address (HR and admins too, for their own 1:1s).
                for name in ("Skip Level", "Una Unrelated", "Hanna HR", "Adam Admin"):
                    assert (await clients[name].get("/calendar")).status_code == 200, name
                    assert (await calendar_app.get(await subscribe(clients[name]))).status_code == 200, name
                # Signed out: the sign-in page, for the page and the forms.
                assert (await calendar_app.get("/calendar")).status_code == 303

                # Dora leaves while signed in: the service refuses her (403), and her address dies.
                dora = clients["Dora Departing"]
                doras = await subscribe(dora)
                token = csrf_of((await dora.get("/calendar")).text)
                gone = await stack.services["reviews"].patch(
                    f"/people/{stack.people['Dora Departing']}", json={"active": False}, headers=stack.hr_headers
                )
                assert gone.status_code == 200, gone.text

                async def dead() -> bool:
                    return (await calendar_app.get(doras)).status_code == 404

                await wait_until(dead, timeout=30, message="the leaver's address stops")
                assert (await dora.get("/calendar")).status_code == 403
                assert (await dora.post("/calendar", data={"csrf_token": token})).status_code == 403

            german = await emil.get("/calendar", headers={"accept-language": "de"})
            assert "Meine 1:1-Gespräche in meinem Kalender" in german.text
        finally:
            for client in clients.values():
                await client.aclose()
