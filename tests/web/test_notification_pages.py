"""The notification settings page over the real notifications component (and its database, NATS)."""

from __future__ import annotations

import uuid

import pytest

from notifications.kinds import OPTIONAL_KINDS
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.notifications.conftest import Notifier
from tests.web.conftest import StackFactory, csrf_of, sign_in_as
from web.settings import WebSettings

pytestmark = pytest.mark.database


async def test_my_notification_settings(web_stack: StackFactory, notifier: Notifier, auth: TokenFactory) -> None:
    async with web_stack("reviews", notifications=notifier.app) as stack:
        ada = await stack.add_person("Ada Lovelace", "Eng")
        await stack.add_person("Grace Hopper", "Eng")
        await sign_in_as(stack.web, ada)
        page = await stack.web.get("/notifications")
        assert page.status_code == 200, page.text
        # Defaults: every optional mail is on, the default hour is chosen.
        for kind in ("task_created", "task_reminder", "gate_reminder"):
            assert f'id="receive-{kind}" name="receive" value="{kind}" checked' in page.text
        assert '<option value="" selected>' in page.text
        # Every optional kind has words of its own, never its raw name.
        for kind in OPTIONAL_KINDS:
            assert f'id="receive-{kind}"' in page.text, kind
            assert f">{kind}</label>" not in page.text, kind

        # Out of range: the component's 422 stands beside the hour, and the choices stay as posted.
        bad = await stack.web.post(
            "/notifications",
            data={"csrf_token": csrf_of(page.text), "digest_hour": "24", "receive": ["task_created"]},
        )
        assert bad.status_code == 422, bad.text
        assert 'id="error-digest_hour"' in bad.text
        assert 'aria-describedby="error-digest_hour"' in bad.text
        assert 'value="task_reminder">' in bad.text  # unchecked as posted

        saved = await stack.web.post(
            "/notifications",
            data={"csrf_token": csrf_of(page.text), "digest_hour": "7", "receive": ["gate_reminder"]},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/notifications?saved=1"
        headers = auth(Role.employee, person_id=uuid.UUID(ada))
        stored = await notifier.client.get("/notification-preferences/me", headers=headers)
        assert stored.json()["digest_hour"] == 7
        # Every optional kind not ticked is opted out of; escalations are never optional.
        optional = set(stored.json()["optional_kinds"])
        assert {"task_created", "task_reminder", "gate_reminder"} <= optional
        assert sorted(stored.json()["opted_out"]) == sorted(optional - {"gate_reminder"})
        shown = (await stack.web.get("/notifications?saved=1")).text
        assert '<option value="7" selected>' in shown
        assert 'value="gate_reminder" checked' in shown
        assert 'value="task_created">' in shown

        # A kind at once, and quiet hours past midnight; a box at once for a kind not received means nothing.
        token = csrf_of(shown)
        chosen = await stack.web.post(
            "/notifications",
            data={
                "csrf_token": token,
                "digest_hour": "7",
                "receive": ["gate_reminder", "task_created"],
                "at_once": ["task_created", "task_reminder"],
                "quiet_start": "22",
                "quiet_end": "6",
            },
        )
        assert chosen.status_code == 303, chosen.text
        stored = (await notifier.client.get("/notification-preferences/me", headers=headers)).json()
        assert (stored["at_once"], stored["quiet_hours"]) == (["task_created"], {"start": 22, "end": 6})
        shown = (await stack.web.get("/notifications")).text
        assert 'id="at-once-task_created" name="at_once" value="task_created" checked' in shown
        assert 'id="at-once-checkin_reminder"' not in shown  # always at once: not offered
        assert '<option value="22" selected>' in shown
        # Saving the hour again keeps what is chosen at once (the service replaces the whole setting).
        again = await stack.web.post(
            "/notifications",
            data={
                **{"csrf_token": token, "digest_hour": "8", "receive": ["task_created"]},
                "at_once": "task_created",
                "quiet_start": "22",
                "quiet_end": "6",
            },
        )
        assert again.status_code == 303
        assert (await notifier.client.get("/notification-preferences/me", headers=headers)).json()["at_once"] == [
            "task_created"
        ]
        # One hour of the two: refused beside the missing one, nothing stored; the same hour twice: the service's 422.
        half = await stack.web.post(
            "/notifications", data={"csrf_token": token, "receive": ["task_created"], "quiet_start": "22"}
        )
        assert half.status_code == 422
        assert 'id="error-quiet_end"' in half.text
        same = await stack.web.post(
            "/notifications",
            data={"csrf_token": token, "receive": ["task_created"], "quiet_start": "5", "quiet_end": "5"},
        )
        assert same.status_code == 422
        assert 'id="error-quiet_start"' in same.text
        stored = (await notifier.client.get("/notification-preferences/me", headers=headers)).json()
        assert stored["quiet_hours"] == {"start": 22, "end": 6}
        german = await stack.web.get("/notifications", headers={"accept-language": "de"})
        assert "Ruhezeit" in german.text

        # Without the CSRF token nothing changes.
        refused = await stack.web.post("/notifications", data={"digest_hour": "9"})
        assert refused.status_code == 403

        # Grace sees her own defaults, never Ada's choices.
        await sign_in_as(stack.web, stack.people["Grace Hopper"])
        theirs = (await stack.web.get("/notifications")).text
        assert '<option value="" selected>' in theirs
        assert 'value="task_created" checked' in theirs


def test_the_notifications_address_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MERITLOOP_NOTIFICATIONS_PORT", raising=False)
    monkeypatch.delenv("MERITLOOP_WEB_NOTIFICATIONS_URL", raising=False)
    settings = Settings()
    assert WebSettings().service_url(settings, "notifications") == f"http://{settings.host}:8105"
    monkeypatch.setenv("MERITLOOP_NOTIFICATIONS_PORT", "9105")
    assert WebSettings().service_url(settings, "notifications") == f"http://{settings.host}:9105"
    chosen = WebSettings(notifications_url="http://notifications/")
    assert chosen.service_url(settings, "notifications") == "http://notifications"
