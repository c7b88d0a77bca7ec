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
