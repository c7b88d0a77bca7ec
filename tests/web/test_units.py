"""Pure parts of the web app: charts, message catalogues, language choice, redirects, field errors."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po

from web.api import ApiError, problem_from
from web.charts import Bucket, StackedRow, distribution_chart, progress_chart
from web.i18n import Formatter, language_of, load_catalogues
from web.pages import _field_errors, pages
from web.rendering import Renderer
from web.signin import safe_next

WEB = Path(__file__).resolve().parents[2] / "web"
MESSAGE = re.compile(r"""(?:\b_|gettext)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def messages_in_code() -> set[str]:
    found: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        for match in MESSAGE.finditer(path.read_text(encoding="utf-8")):
            found.add(match.group(1) if match.group(1) is not None else match.group(2))
    return found


def test_every_message_has_a_german_translation() -> None:
    with (WEB / "locales" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="de")
    translated = {message.id for message in catalogue if message.id and message.string and not message.fuzzy}
    messages = messages_in_code()
    assert len(messages) > 100
    assert sorted(messages - translated) == []
    german = load_catalogues()["de"]
    assert german.gettext("Inbox") == "Posteingang"
    for message in messages:  # placeholders survive translation
        assert set(re.findall(r"%\(\w+\)s", german.gettext(message))) == set(re.findall(r"%\(\w+\)s", message))


@pytest.mark.parametrize(
    ("locale", "language"),
    [("de-DE", "de"), ("de_AT", "de"), ("de", "de"), ("en-GB", "en"), ("fr-FR", "en"), (None, "en"), ("x!", "en")],
)
def test_language_from_the_locale(locale: str | None, language: str) -> None:
    assert language_of(locale, frozenset({"en", "de"})) == language


def test_dates_in_the_persons_language_and_zone() -> None:
    german = Formatter("de", "Europe/Berlin")
    assert german.datetime("2026-03-01T16:00:00+00:00") == "01.03.2026, 17:00:00"
    assert Formatter("en", "UTC").date("2026-03-01") == "Mar 1, 2026"
    assert german.number(48.75) == "48,8"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/goals", "/goals"),
        ("/hr/cycles?x=1", "/hr/cycles?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("", "/"),
        (None, "/"),
        ("goals", "/"),
    ],
)
def test_redirects_stay_on_the_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_progress_chart_draws_shares_and_escapes_labels() -> None:
    svg = str(
        progress_chart(
            [StackedRow("<Eng>", 3, 1, 0), StackedRow("Sales", 0, 0, 2)], title="T & U", legend=("d", "o", "l")
        )
    )
    assert svg.startswith("<svg")
    assert 'role="img"' in svg
    assert "&lt;Eng&gt;" in svg
    assert "<Eng>" not in svg
    assert "T &amp; U" in svg
    assert ">75%<" in svg
    assert ">0%<" in svg
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="\d+" width="([\d.]+)" height="22"', svg)]
    assert widths == [270.0, 90.0, 360.0]  # 3:1 of the first bar, all overdue in the second


def test_distribution_chart_marks_the_guideline() -> None:
    svg = str(
        distribution_chart(
            [Bucket("Meets", 100.0, 40.0), Bucket("Exceeds", 0.0, 20.0)], title="Dist", legend=("a", "b")
        )
    )
    assert svg.count("stroke-dasharray") == 3  # one guideline mark per bucket, one in the legend
    assert ">100%<" in svg
    assert ">0%<" in svg
    assert '<title id="chart-distribution-title">Dist</title>' in svg


def test_problem_fields_are_named_by_item() -> None:
    response = httpx.Response(
        422,
        json={
            "title": "Unprocessable",
            "detail": "Invalid input in: answers.1.value",
            "errors": [{"field": "answers.1.value", "in": "body", "message": "not a point of the scale"}],
        },
    )
    error = problem_from(response)
    assert error.fields == {"answers.1.value": "not a point of the scale"}
    body = {"answers": [{"item": "craft", "value": 4}, {"item": "impact", "value": 9}]}
    assert _field_errors(error, body) == {"impact": "not a point of the scale"}
    assert _field_errors(ApiError(409, "Conflict", "already done"), body) == {"_form": "already done"}


def test_web_secrets_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.settings import WebSettings

    secret = tmp_path / "session"
    secret.write_text("f" * 40 + "\n")
    monkeypatch.setenv("MERITLOOP_WEB_SESSION_SECRET_FILE", str(secret))
    assert WebSettings().session_secret == "f" * 40
    monkeypatch.setenv("MERITLOOP_WEB_SESSION_SECRET", "e" * 40)  # the variable itself wins
    assert WebSettings().session_secret == "e" * 40
    monkeypatch.delenv("MERITLOOP_WEB_SESSION_SECRET")
    monkeypatch.delenv("MERITLOOP_WEB_SESSION_SECRET_FILE")
    folder = tmp_path / "mounted"
    folder.mkdir()
    (folder / "MERITLOOP_WEB_OIDC_CLIENT_SECRET").write_text("client-secret")
    monkeypatch.setenv("MERITLOOP_SECRETS_DIR", str(folder))
    assert WebSettings().oidc_client_secret == "client-secret"
    monkeypatch.setenv("MERITLOOP_WEB_SESSION_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot be read"):
        WebSettings()


def test_nine_box_chart_puts_high_potential_on_top() -> None:
    from web.charts import nine_box_chart

    svg = str(
        nine_box_chart(
            {("high", "high"): 3, ("low", "low"): 1},
            title="9-box <test>",
            band_labels=("low", "middle", "high"),
            axes=("Performance", "Potential"),
        )
    )
    assert '<title id="chart-ninebox-title">9-box &lt;test&gt;</title>' in svg
    assert svg.count("<rect") == 9
    # Cells are 110 wide from x=90 and y=16: high/high is top right, low/low bottom left;
    # a cell under half the fullest one is pale with dark text.
    assert '<rect x="310" y="16"' in svg
    assert 'fill="#1f5fa8"' in svg
    assert '<text x="363.0" y="77.0" text-anchor="middle" font-size="22" fill="#ffffff">3</text>' in svg
    assert '<text x="143.0" y="297.0" text-anchor="middle" font-size="22" fill="#202020">1</text>' in svg


def test_spend_chart_marks_the_budget_and_an_overrun() -> None:
    from web.charts import SpendRow, spend_chart

    svg = str(
        spend_chart(
            [SpendRow("Eng", 3000.0, 4000.0), SpendRow("Sales", 2000.0, 1000.0), SpendRow("Ops", 500.0, None)],
            title="Spend",
            legend=("spend", "budget"),
        )
    )
    # Scale: the widest value (4,000) fills the 360 px bar area starting at x=160.
    assert '<rect x="160" y="4" width="270.0" height="22" fill="#1f6f3f">' in svg
    assert '<rect x="160" y="38" width="180.0" height="22" fill="#b3261e">' in svg  # over budget: red
    assert '<line x1="520.0"' in svg
    assert '<line x1="250.0"' in svg
    assert svg.count("stroke-dasharray") == 3  # two budgets and the legend; Ops has none


def test_the_dispute_queue_says_when_a_dispute_is_overdue_and_how_often_it_was_escalated() -> None:
    environment = Renderer().environment
    german = load_catalogues()["de"]
    dispute = {
        "id": "d1",
        "person_id": "p1",
        "disputed_rating": "3",
        "due_at": "2027-01-16T16:00:00+00:00",
        "status": "open",
        "overdue": True,
        "escalations": 2,
        "escalated_at": "2027-01-23T16:00:00+00:00",
    }
    quiet = {**dispute, "id": "d2", "overdue": False, "escalations": 0, "escalated_at": None}
    for language, translations, said, overdue in (
        ("en", None, "Escalated up the HR owner line 2 time(s), last on Jan 23, 2027.", "overdue"),
        ("de", german, "In der Linie der HR-Verantwortlichen 2-mal eskaliert, zuletzt am 23.01.2027.", "überfällig"),
    ):
        html = environment.get_template("disputes.html").render(
            _=translations.gettext if translations else (lambda text: text),
            ngettext=None,
            fmt=Formatter(language, "Europe/Berlin"),
            csrf_token="t",
            person=None,
            path="/hr/disputes",
            errors={},
            disputes=[dispute, quiet],
            names={"p1": "Ada Lovelace"},
            status="open",
            paging=pages(2, 0),
            base="/hr/disputes?status=open",
        )
        assert html.count(said) == 1, "only the escalated dispute says so"
        assert html.count(f"<strong>{overdue}</strong>") == 1, "only the overdue one is marked"
