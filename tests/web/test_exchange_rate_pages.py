"""HR's exchange-rate page over the real reviews and rewards services (and NATS): the first rate
fixes the base, each rate is listed with its inverse and in force from its day, a day's rate is
replaced and the notice says so, refused input stands beside its field with nothing stored, a rate
is removed through the page that asks first, the rates in force on a chosen day, pages of 20, the
page in German (the directory's language, else the browser's); only HR and admins reach it (as
everywhere in the web app and in rewards, an admin counts as HR), and rewards refuses an HR person
deactivated while signed in."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.web.conftest import Stack, StackFactory, clients_of, csrf_of, deactivate_dora, web_client
from tests.web.conftest import hr_org as org
from web.exchange_rate_pages import plain_rate, rate_text
from web.i18n import Formatter

pytestmark = pytest.mark.database

PAGE = "/hr/exchange-rates"
EMPTY = "No rates yet: the first rate fixes the base currency."
EN = Formatter("en", None)


def today() -> date:
    return datetime.now(UTC).date()  # the day rewards' "in force" defaults to


def test_rates_read_as_rewards_holds_them() -> None:
    # Every decimal a rate has, none it does not: rewards answers with ten.
    assert rate_text("0.9200000000", "en") == "0.92"
    assert rate_text("0.9200000000", "de") == "0,92"
    assert rate_text("52000.0000000000", "en") == "52,000"
    assert rate_text("52000.0000000000", "de") == "52.000"
    assert rate_text("0.0000578123", "en") == "0.0000578123"
    assert rate_text("1.0000000000", "en") == "1"
    # The form gets them back without grouping or exponent.
    assert plain_rate("52000.0000000000") == "52000"
    assert plain_rate("0.9300000000") == "0.93"
    assert plain_rate("10.0000000000") == "10"


async def set_rate(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/inbox")).text)
    return await client.post(PAGE, data={"csrf_token": token, **fields})


async def remove(client: httpx.AsyncClient, currency: str, day: date | str) -> httpx.Response:
    token = csrf_of((await client.get("/inbox")).text)
    return await client.post(f"{PAGE}/{currency}/{day}/remove", data={"csrf_token": token})


async def stored(stack: Stack) -> list[dict[str, Any]]:
    found = await stack.services["rewards"].get("/exchange-rates", params={"limit": 500}, headers=stack.hr_headers)
    assert found.status_code == 200, found.text
    items: list[dict[str, Any]] = found.json()["items"]
    return items


def in_force_section(html: str) -> str:
    """The part of the page about the rates in force (before the form)."""
    return html.split('id="in-force-heading"', 1)[1].split('id="set-heading"', 1)[0]


def stored_section(html: str) -> str:
    return html.split('id="stored-heading"', 1)[1]


async def test_hr_sets_replaces_and_removes_exchange_rates(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        clients = await org(stack, auth)
        hanna = clients["Hanna HR"]
        day, later = today() - timedelta(days=30), today() + timedelta(days=10)

        # Nothing yet: the empty state, the base asked for, the navigation marks the page.
        empty = await hanna.get(PAGE)
        assert empty.status_code == 200, empty.text
        assert EMPTY in empty.text
        assert '<a href="/hr/exchange-rates" aria-current="page">Exchange rates</a>' in empty.text
        assert 'id="base" name="base"' in empty.text
        assert 'id="in-force-heading"' not in empty.text
        assert 'id="stored-heading"' not in empty.text
        assert f'name="effective_date" value="{today().isoformat()}"' in empty.text

        # The first rate without a base: rewards' 422 beside the base, what was typed kept, nothing stored.
        first = {"currency": "usd", "effective_date": day.isoformat(), "rate": "0.92", "note": "ECB reference rate"}
        no_base = await set_rate(hanna, **first)
        assert no_base.status_code == 422, no_base.text
        assert '<p class="error" id="error-base">required for the first rate' in no_base.text
        assert 'aria-invalid="true" aria-describedby="error-base"' in no_base.text
        assert 'value="0.92"' in no_base.text
        assert 'value="ECB reference rate"' in no_base.text
        assert await stored(stack) == []

        # With the base: saved (the code typed in small letters is read as USD), in force today, with its inverse.
        saved = await set_rate(hanna, **first, base="EUR")
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{PAGE}?saved=USD&from={day.isoformat()}"
        page = await hanna.get(saved.headers["location"])
        assert page.status_code == 200
        assert (
            f'<p class="notice" role="status">The USD rate from {EN.date(day)} is saved: '
            "1 USD = 0.92 EUR (1 EUR = 1.0869565217 USD).</p>"
        ) in page.text
        assert EMPTY not in page.text
        assert "Base currency: EUR." in page.text
        assert 'id="base" name="base"' not in page.text  # the base is fixed now
        assert "Every rate is quoted against EUR." in page.text
        now = in_force_section(page.text)
        assert f"Rates in force on {EN.date(today())}" in now
        assert (
            '<tr><th scope="row">USD</th><td>1 USD = 0.92 EUR</td><td>1 EUR = 1.0869565217 USD</td>'
            f"<td>{EN.date(day)}</td><td>ECB reference rate</td></tr>"
        ) in now
        listed = stored_section(page.text)
        assert "1 USD = 0.92 EUR" in listed
        assert "1 EUR = 1.0869565217 USD" in listed
        assert "Hanna HR" in listed  # who set it
        assert f"in force on {EN.date(today())}" in listed
        [usd] = await stored(stack)
        assert (usd["currency"], usd["base"], usd["rate"], usd["effective_date"]) == (
            "USD",
            "EUR",
            "0.9200000000",
            day.isoformat(),
        )
        assert usd["note"] == "ECB reference rate"

        # A second currency without a base (a decimal comma is read as a point).
        gbp = await set_rate(hanna, currency="GBP", effective_date=day.isoformat(), rate="1,17", note="")
        assert gbp.status_code == 303, gbp.text
        page = await hanna.get(gbp.headers["location"])
        assert f"The GBP rate from {EN.date(day)} is saved: 1 GBP = 1.17 EUR (1 EUR = 0.8547008547 GBP)." in page.text
        now = in_force_section(page.text)
        assert now.index(">GBP<") < now.index(">USD<")  # by currency
        assert {(r["currency"], r["rate"], r["note"]) for r in await stored(stack)} == {
            ("USD", "0.9200000000", "ECB reference rate"),
            ("GBP", "1.1700000000", None),
        }

        # The same currency and day again: replaced, and the notice says so.
        replaced = await set_rate(hanna, currency="USD", effective_date=day.isoformat(), rate="0.93")
        assert replaced.status_code == 303, replaced.text
        assert replaced.headers["location"] == f"{PAGE}?saved=USD&from={day.isoformat()}&replaced=1"
        page = await hanna.get(replaced.headers["location"])
        assert (
            f"The USD rate from {EN.date(day)} is replaced: it is now 1 USD = 0.93 EUR (1 EUR = 1.0752688172 USD)."
        ) in page.text
        current, earlier = page.text.split('id="changes-heading"', 1)
        assert "1 USD = 0.92 EUR" not in current
        assert "1 USD = 0.92 EUR" in earlier  # kept among the replaced rates
        rows = await stored(stack)
        assert len(rows) == 2
        assert {r["currency"]: r["rate"] for r in rows}["USD"] == "0.9300000000"

        # Refused, beside the field, what was typed kept, nothing stored: a rate of 0, a word, 11
        # decimals, nothing; a code ISO 4217 does not list, one that is no code, the base itself;
        # no day; another base than the stored one.
        good = {"currency": "CHF", "effective_date": day.isoformat(), "rate": "0.95"}
        for field, wrong, said in (
            ("rate", "0", "greater than 0"),
            ("rate", "abc", "Enter a number."),
            ("rate", "0.12345678901", "decimal places"),
            ("rate", "", "Enter the rate, e.g. 0.92."),
            ("currency", "EUO", "not an ISO 4217 currency code"),
            ("currency", "U$D", "Enter a three-letter currency code, e.g. USD."),
            ("currency", "EUR", "EUR is the base currency"),
            ("effective_date", "", "Enter a date."),
            ("base", "USD", "every rate is against EUR"),
        ):
            refused = await set_rate(hanna, **{**good, field: wrong})
            assert refused.status_code == 422, (field, wrong, refused.text)
            error = refused.text.split(f'<p class="error" id="error-{field}">', 1)
            assert len(error) == 2, (field, wrong, refused.text)
            assert said in error[1].split("</p>", 1)[0], (field, wrong, error[1][:200])
            if wrong and field != "base":  # the base is fixed: the form no longer asks for it
                assert f'value="{wrong}"' in refused.text, (field, wrong)
        assert {(r["currency"], r["rate"]) for r in await stored(stack)} == {
            ("USD", "0.9300000000"),
            ("GBP", "1.1700000000"),
        }
        # A post without the CSRF token.
        assert (await hanna.post(PAGE, data=good)).status_code == 403
        assert len(await stored(stack)) == 2

        # A later USD rate: today's view keeps 0.93, the view on its day shows it; before any rate, none.
        assert (await set_rate(hanna, currency="USD", effective_date=later.isoformat(), rate="0.95")).status_code == 303
        page = await hanna.get(PAGE)
        assert "1 USD = 0.93 EUR" in in_force_section(page.text)
        assert "1 USD = 0.95 EUR" not in in_force_section(page.text)
        listed = stored_section(page.text)
        assert listed.index("1 USD = 0.95 EUR") < listed.index("1 USD = 0.93 EUR")  # newest first
        ahead = await hanna.get(PAGE, params={"on": later.isoformat()})
        assert ahead.status_code == 200
        now = in_force_section(ahead.text)
        assert f"Rates in force on {EN.date(later)}" in now
        assert "1 USD = 0.95 EUR" in now
        assert "1 USD = 0.93 EUR" not in now
        assert "1 GBP = 1.17 EUR" in now
        assert f'<a href="{PAGE}">Today</a>' in now
        before = await hanna.get(PAGE, params={"on": (day - timedelta(days=1)).isoformat()})
        assert f"No rate is in force on {EN.date(day - timedelta(days=1))}." in before.text
        nonsense = await hanna.get(PAGE, params={"on": "soon"})
        assert nonsense.status_code == 422
        assert '<p class="error" id="error-on">Enter a date.</p>' in nonsense.text

        # *Change* fills the form with the stored rate.
        change = await hanna.get(PAGE, params={"correct": "USD", "from": day.isoformat()})
        assert f'href="{PAGE}?correct=USD&amp;from={day.isoformat()}#set-rate"' in page.text
        assert 'id="currency" name="currency"' in change.text
        form = change.text.split('id="set-heading"', 1)[1]
        assert 'value="USD"' in form
        assert 'value="0.93"' in form
        assert f'value="{day.isoformat()}"' in form

        # Removing: the page asks first and says what is in force without it; only its button removes.
        ask = f"{PAGE}/USD/{later.isoformat()}/remove"
        assert f'href="{ask}"' in page.text
        question = await hanna.get(ask)
        assert question.status_code == 200, question.text
        assert f"Remove the USD rate from {EN.date(later)}?" in question.text
        assert "1 USD = 0.95 EUR (1 EUR = 1.0526315789 USD). Set by Hanna HR." in question.text
        assert (
            "Without it, USD is converted at the rate before it on the days this one covers: "
            f"1 USD = 0.93 EUR, in force since {EN.date(day)}."
        ) in question.text
        assert "It is the only rate stored" not in question.text
        assert f'action="{ask}"' in question.text
        assert (await hanna.post(ask)).status_code == 403  # no CSRF token
        assert len(await stored(stack)) == 3
        gone = await remove(hanna, "USD", later)
        assert gone.status_code == 303, gone.text
        page = await hanna.get(gone.headers["location"])
        assert f"The USD rate from {EN.date(later)} is removed." in page.text
        assert {(r["currency"], r["effective_date"]) for r in await stored(stack)} == {
            ("USD", day.isoformat()),
            ("GBP", day.isoformat()),
        }
        # Pressed again (or another HR person was first): gone all the same; its page is 404 now.
        assert (await remove(hanna, "USD", later)).status_code == 303
        for missing in (ask, f"{PAGE}/usd/{day}/remove", f"{PAGE}/USD/2026-13-01/remove", f"{PAGE}/CHF/{day}/remove"):
            answer = await hanna.get(missing)
            assert answer.status_code == 404, missing
            assert "There is no such exchange rate." in answer.text

        # The GBP rate has none before it; the last rate left frees the base.
        question = await hanna.get(f"{PAGE}/GBP/{day}/remove")
        assert "Without it, no GBP rate is in force on the days this one covers" in question.text
        assert (await remove(hanna, "GBP", day)).status_code == 303
        question = await hanna.get(f"{PAGE}/USD/{day}/remove")
        assert "It is the only rate stored: without it there is no base currency" in question.text
        assert (await remove(hanna, "USD", day)).status_code == 303
        assert await stored(stack) == []
        page = await hanna.get(PAGE)
        assert EMPTY in page.text
        assert 'id="base" name="base"' in page.text


async def test_the_stored_rates_come_a_page_at_a_time_and_by_currency(
    web_stack: StackFactory, auth: TokenFactory
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        await stack.add_person("Hanna HR", "People")
        hanna = (await clients_of(stack, auth))["Hanna HR"]
        rewards, hr = stack.services["rewards"], stack.hr_headers
        start = today() - timedelta(days=40)
        for index in range(25):  # USD on 25 days, 1.00 to 1.24
            answer = await rewards.put(
                f"/exchange-rates/USD/{start + timedelta(days=index)}",
                json={"rate": f"1.{index:02d}", "base": "EUR"},
                headers=hr,
            )
            assert answer.status_code == 201, answer.text
        assert (await rewards.put(f"/exchange-rates/GBP/{start}", json={"rate": "1.17"}, headers=hr)).status_code == 201

        first = await hanna.get(PAGE)
        listed = stored_section(first.text)
        assert listed.count("Remove…") == 20
        assert "1\N{EN DASH}20 of 26" in listed
        assert f'href="{PAGE}?&offset=20"' in listed
        assert "1 USD = 1.24 EUR" in listed
        assert "1 USD = 1.05 EUR" in listed
        assert "1 USD = 1.04 EUR" not in listed
        second = await hanna.get(PAGE, params={"offset": 20})
        listed = stored_section(second.text)
        assert listed.count("Remove…") == 6
        assert "21\N{EN DASH}26 of 26" in listed
        assert "1 USD = 1 EUR" in listed
        assert "1 GBP = 1.17 EUR" in listed
        assert "1 USD = 1.05 EUR" not in listed
        assert f'href="{PAGE}?&offset=0"' in listed

        # By currency (in small letters too), the filter kept in the paging links and the day view.
        only = await hanna.get(PAGE, params={"currency": "gbp", "on": start.isoformat()})
        listed = stored_section(only.text)
        assert listed.count("Remove…") == 1
        assert "1 GBP = 1.17 EUR" in listed
        assert 'id="list-currency" name="currency" size="5" maxlength="3"' in listed
        assert 'value="GBP"' in listed
        assert f'<a href="{PAGE}?on={start.isoformat()}">All currencies</a>' in listed
        usd = await hanna.get(PAGE, params={"currency": "USD"})
        assert f'href="{PAGE}?currency=USD&offset=20"' in stored_section(usd.text)
        none = await hanna.get(PAGE, params={"currency": "CHF"})
        assert none.status_code == 200
        assert "No CHF rates are stored." in none.text
        for wrong in ("XYZ", "1X"):
            refused = await hanna.get(PAGE, params={"currency": wrong})
            assert refused.status_code == 422, wrong
            assert '<p class="error" id="error-list-currency">' in refused.text, wrong
            assert "Remove…" not in refused.text, wrong


async def test_only_hr_and_admins_reach_the_exchange_rates(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        clients = await org(stack, auth)
        day = today().isoformat()
        rate = {"currency": "USD", "effective_date": day, "rate": "0.92", "base": "EUR"}
        assert (await set_rate(clients["Hanna HR"], **rate)).status_code == 303
        ask = f"{PAGE}/USD/{day}/remove"

        # Not HR (the employee herself, her manager, the skip-level, a colleague): refused before rewards is
        # asked, the page, the question and both posts; the navigation does not offer it.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            client = clients[name]
            assert (await client.get(PAGE)).status_code == 403, name
            assert (await client.get(ask)).status_code == 403, name
            assert (await set_rate(client, **{**rate, "rate": "5"})).status_code == 403, name
            assert (await remove(client, "USD", day)).status_code == 403, name
            assert 'href="/hr/exchange-rates"' not in (await client.get("/inbox")).text, name
        assert [(r["currency"], r["rate"]) for r in await stored(stack)] == [("USD", "0.9200000000")]

        # HR and admins: the page, the question, a change.
        for name in ("Hanna HR", "Adam Admin"):
            client = clients[name]
            page = await client.get(PAGE)
            assert page.status_code == 200, name
            assert 'href="/hr/exchange-rates"' in page.text, name
            assert (await client.get(ask)).status_code == 200, name
        by_admin = await set_rate(clients["Adam Admin"], **{**rate, "rate": "0.94"})
        assert by_admin.status_code == 303, by_admin.text
        assert [(r["currency"], r["rate"]) for r in await stored(stack)] == [("USD", "0.9400000000")]

        # Signed out: to the sign-in, and back afterwards.
        signed_out = await web_client(stack.app).get(PAGE, params={"on": day})
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/signin?next=/hr/exchange-rates")

        # HR who left while signed in: rewards refuses her once it learns of it, page, question and posts.
        dora = clients["Dora Departing"]
        assert (await dora.get(PAGE)).status_code == 200
        token = await deactivate_dora(stack, dora, PAGE)
        assert (await dora.get(ask)).status_code == 403
        changed = await dora.post(PAGE, data={"csrf_token": token, **rate, "rate": "7"})
        assert changed.status_code == 403, changed.text
        removed = await dora.post(ask, data={"csrf_token": token})
        assert removed.status_code == 403, removed.text
        assert [(r["currency"], r["rate"]) for r in await stored(stack)] == [("USD", "0.9400000000")]
        # Rewards itself says the same to her token.
        as_dora = auth(Role.hr, person_id=uuid.UUID(stack.people["Dora Departing"]))
        assert (await stack.services["rewards"].get("/exchange-rates", headers=as_dora)).status_code == 403


async def test_the_exchange_rates_in_german(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        await stack.add_person("Greta Geld", "People", locale="de-DE")
        await stack.add_person("Hanna HR", "People")  # no language in the directory: her browser's counts
        clients = await clients_of(stack, auth)
        greta = clients["Greta Geld"]
        de = Formatter("de", None)
        day = today() - timedelta(days=3)

        empty = await greta.get(PAGE)
        assert '<html lang="de">' in empty.text
        assert ">Wechselkurse</a>" in empty.text
        assert "<h1>Wechselkurse</h1>" in empty.text
        assert "Noch keine Kurse: Der erste Kurs legt die Basiswährung fest." in empty.text
        assert "Basiswährung: Jeder Kurs ist gegen sie angegeben" in empty.text

        wrong = await set_rate(greta, currency="E1R", effective_date=day.isoformat(), rate="0,92", base="EUR")
        assert wrong.status_code == 422
        assert "Geben Sie einen Währungscode aus drei Buchstaben ein, z. B. USD." in wrong.text

        saved = await set_rate(greta, currency="USD", effective_date=day.isoformat(), rate="0,92", base="EUR")
        assert saved.status_code == 303, saved.text
        page = await greta.get(saved.headers["location"])
        assert (
            f"Der USD-Kurs ab {de.date(day)} ist gespeichert: 1 USD = 0,92 EUR (1 EUR = 1,0869565217 USD)."
        ) in page.text
        assert "Basiswährung: EUR." in page.text
        assert f"Am {de.date(today())} gültige Kurse" in page.text
        for german in (
            "Kehrwert",
            "Gültig seit",
            "Gespeicherte Kurse, neueste zuerst",
            "Festgelegt von",
            "Kurs speichern",
        ):
            assert german in page.text, german
        question = await greta.get(f"{PAGE}/USD/{day}/remove")
        assert f"Den USD-Kurs ab {de.date(day)} entfernen?" in question.text
        assert "Ja, den Kurs entfernen" in question.text
        assert "Nein, zurück zu den Wechselkursen" in question.text
        missing = await greta.get(f"{PAGE}/GBP/{day}/remove")
        assert missing.status_code == 404
        assert "Diesen Wechselkurs gibt es nicht." in missing.text

        # Without a language in the directory, the browser's first choice.
        hanna = clients["Hanna HR"]
        assert "1 USD = 0.92 EUR" in (await hanna.get(PAGE)).text
        browser_de = await hanna.get(PAGE, headers={"accept-language": "de-DE,de;q=0.9,en;q=0.8"})
        assert "<h1>Wechselkurse</h1>" in browser_de.text
        assert "1 USD = 0,92 EUR" in browser_de.text
        assert "Jeder Kurs ist gegen EUR angegeben." in browser_de.text


ECB_DAILY = b"Date, USD, JPY, CYP, \r\n27 November 2026, 1.0578, 162.45, N/A, \r\n"


async def upload(client: httpx.AsyncClient, content: bytes | None, dry_run: bool = False) -> httpx.Response:
    token = csrf_of((await client.get("/inbox")).text)
    files = {"file": ("eurofxref.csv", content, "text/csv")} if content is not None else None
    data = {"csrf_token": token, **({"dry_run": "yes"} if dry_run else {})}
    return await client.post(f"{PAGE}/reference-rates", data=data, files=files or {"none": ("", b"", "text/plain")})


async def test_hr_imports_the_ecbs_reference_rates_file(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        clients = await org(stack, auth)
        hanna = clients["Hanna HR"]
        page = await hanna.get(PAGE)
        assert 'enctype="multipart/form-data"' in page.text

        checked = await upload(hanna, ECB_DAILY, dry_run=True)
        assert checked.status_code == 200, checked.text
        assert "Checked, nothing stored: the file would create 2 rates, replace 0 and keep 0" in checked.text
        assert await stored(stack) == []
        done = await upload(hanna, ECB_DAILY)
        assert "Imported: 2 rates created, 0 replaced and 0 unchanged" in done.text
        assert sorted((r["currency"], r["rate"]) for r in await stored(stack)) == [
            ("JPY", "0.0061557402"),
            ("USD", "0.9453582908"),
        ]
        assert "1 USD = 0.9453582908 EUR" in done.text  # listed with the others

        # A bad file: each cell named, nothing stored; no file at all: said beside the field.
        bad = await upload(hanna, b"Date,USD,XYZ\n2026-11-28,abc,1\n")
        assert bad.status_code == 422
        assert "Nothing was imported." in bad.text
        assert "Row 1, USD: a positive number of that currency per euro" in bad.text
        assert "Column XYZ: not an ISO 4217 currency code" in bad.text
        nothing = await upload(hanna, None)
        assert nothing.status_code == 422
        assert 'id="error-file"' in nothing.text
        assert len(await stored(stack)) == 2
        # No CSRF token: refused.
        refused = await hanna.post(f"{PAGE}/reference-rates", files={"file": ("e.csv", ECB_DAILY, "text/csv")})
        assert refused.status_code == 403

        # Only HR and admins.
        for name in ("Ada Employee", "Mia Manager", "Skip Level", "Una Unrelated"):
            assert (await upload(clients[name], ECB_DAILY)).status_code == 403, name
        assert (await upload(clients["Adam Admin"], ECB_DAILY, dry_run=True)).status_code == 200
        german = await upload(clients["Greta Geld"], ECB_DAILY, dry_run=True)
        assert "Geprüft, nichts gespeichert" in german.text


async def test_replaced_and_removed_rates_are_listed_as_they_stood(web_stack: StackFactory, auth: TokenFactory) -> None:
    async with web_stack("reviews", "rewards") as stack:
        clients = await org(stack, auth)
        hanna, adam = clients["Hanna HR"], clients["Adam Admin"]
        day = (today() - timedelta(days=3)).isoformat()
        assert (await set_rate(hanna, currency="USD", effective_date=day, rate="0.92", base="EUR")).status_code == 303
        assert "Replaced and removed rates" not in (await hanna.get(PAGE)).text
        assert (await set_rate(adam, currency="USD", effective_date=day, rate="0.93")).status_code == 303
        assert (await remove(hanna, "USD", day)).status_code == 303
        page = (await hanna.get(PAGE)).text
        listed = page.split('id="changes-heading"', 1)[1]
        assert "1 USD = 0.92 EUR" in listed
        assert "1 USD = 0.93 EUR" in listed
        assert "replaced by Adam Admin on" in listed
        assert "removed by Hanna HR on" in listed
        assert listed.index("removed by") < listed.index("replaced by")  # newest change first
        # The currency filter narrows them too.
        assert "Replaced and removed rates" not in (await hanna.get(PAGE, params={"currency": "GBP"})).text
