"""The mails' words in English and German, and how one mail is put together from its notifications.

Pure functions: the caller supplies the people's names (from the projection) and the time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifications.kinds import Kind

LANGUAGES = ("en", "de")

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "step.self_assessment": "Self-assessment",
        "step.manager_review": "Manager review",
        "step.pay_review": "Pay review",
        "step.acknowledgement": "Acknowledgement",
        "step.calibration": "Calibration",
        "step.pay_approval": "Pay approval",
        "step.unknown": "Review task",
        "greeting": "Hello {name},",
        "digest.subject": "Meritloop: {count} update(s) for you",
        "digest.intro": "Here is what happened in Meritloop since your last summary:",
        "task_created": "New task: {step}{whose}, due {due}.",
        "task_reminder": "Reminder: your task is due {due}.",
        "task_reminder.step": "Reminder: {step}{whose} is due {due}.",
        "gate_reminder": "{step} of a review cycle is still open ({pending} pending), due {due}.",
        "escalation.subject": "Overdue: {step}{whose}",
        "escalation.task": "{step}{whose} was due {due} and is not done. It has been escalated to you.",
        "escalation.gate": "{step} of a review cycle was due and {pending} item(s) are still open. "
        "It has been escalated to you.",
        "whose": " for {name}",
        "open": "Open it: {link}",
        "footer": "You receive this because you take part in a Meritloop review cycle. Choose what you receive: {link}",
        "footer.escalation": "Escalations are always sent.",
    },
    "de": {
        "step.self_assessment": "Selbsteinschätzung",
        "step.manager_review": "Beurteilung durch die Führungskraft",
        "step.pay_review": "Gehaltsprüfung",
        "step.acknowledgement": "Kenntnisnahme",
        "step.calibration": "Kalibrierung",
        "step.pay_approval": "Gehaltsfreigabe",
        "step.unknown": "Aufgabe",
        "greeting": "Hallo {name},",
        "digest.subject": "Meritloop: {count} Neuigkeit(en) für Sie",
        "digest.intro": "Das ist in Meritloop seit Ihrer letzten Zusammenfassung geschehen:",
        "task_created": "Neue Aufgabe: {step}{whose}, fällig am {due}.",
        "task_reminder": "Erinnerung: Ihre Aufgabe ist am {due} fällig.",
        "task_reminder.step": "Erinnerung: {step}{whose} ist am {due} fällig.",
        "gate_reminder": "{step} eines Beurteilungszyklus ist noch offen ({pending} ausstehend), fällig am {due}.",
        "escalation.subject": "Überfällig: {step}{whose}",
        "escalation.task": "{step}{whose} war am {due} fällig und ist nicht erledigt. Die Aufgabe wurde an "
        "Sie eskaliert.",
        "escalation.gate": "{step} eines Beurteilungszyklus war fällig, {pending} Punkt(e) sind noch offen. "
        "Der Schritt wurde an Sie eskaliert.",
        "whose": " für {name}",
        "open": "Öffnen: {link}",
        "footer": "Sie erhalten diese Nachricht, weil Sie an einem Meritloop-Beurteilungszyklus teilnehmen. "
        "Wählen Sie, was Sie erhalten: {link}",
        "footer.escalation": "Eskalationen werden immer gesendet.",
    },
}

DATE_FORMATS = {"en": "%d %b %Y, %H:%M", "de": "%d.%m.%Y, %H:%M"}
# The steps whose task is about someone else: the mail names that person.
ABOUT_SOMEONE_ELSE = frozenset({"manager_review", "pay_review"})


def language_of(locale: str | None) -> str:
    """``de``, ``de-CH``, ``de_AT`` -> ``de``; anything else (or nothing) -> ``en``."""
    if locale:
        primary = locale.replace("_", "-").split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return "en"


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@dataclass(frozen=True)
class Item:
    kind: Kind
    event_type: str
    data: Mapping[str, Any]


class Writer:
    """Renders mails for one recipient: their language, time zone and the web app's address."""

    def __init__(self, language: str, tz: ZoneInfo, web_base_url: str, names: Mapping[str, str]) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.tz = tz
        self.base = web_base_url.rstrip("/")
        self.names = names  # person id -> display name, for "manager review for Ada"

    def text(self, key: str, **values: object) -> str:
        return CATALOGUE[self.language][key].format(**values)

    def step(self, data: Mapping[str, Any]) -> str:
        step = str(data.get("step") or "unknown")
        key = f"step.{step}"
        return CATALOGUE[self.language].get(key) or self.text("step.unknown")

    def due(self, data: Mapping[str, Any]) -> str:
        raw = data.get("due_at")
        if not raw:
            return "?"
        moment = datetime.fromisoformat(str(raw)).astimezone(self.tz)
        return f"{moment.strftime(DATE_FORMATS[self.language])} ({self.tz.key})"

    def whose(self, data: Mapping[str, Any]) -> str:
        if str(data.get("step")) not in ABOUT_SOMEONE_ELSE:
            return ""
        name = self.names.get(str(data.get("person_id")))
        return self.text("whose", name=name) if name else ""

    def link(self, data: Mapping[str, Any]) -> str:
        if data.get("task_id"):
            return f"{self.base}/tasks/{data['task_id']}"
        if data.get("cycle_id"):
            return f"{self.base}/cycles/{data['cycle_id']}"
        return f"{self.base}/"

    @property
    def preferences_link(self) -> str:
        return f"{self.base}/notifications"

    def line(self, item: Item) -> str:
        data = item.data
        pending = len(data.get("pending") or [])
        if item.kind is Kind.task_created:
            text = self.text("task_created", step=self.step(data), whose=self.whose(data), due=self.due(data))
        elif item.kind is Kind.task_reminder and data.get("step"):
            text = self.text("task_reminder.step", step=self.step(data), whose=self.whose(data), due=self.due(data))
        elif item.kind is Kind.task_reminder:
            text = self.text("task_reminder", due=self.due(data))
        elif item.kind is Kind.gate_reminder:
            text = self.text("gate_reminder", step=self.step(data), pending=pending, due=self.due(data))
        elif "task_id" in data:
            text = self.text("escalation.task", step=self.step(data), whose=self.whose(data), due=self.due(data))
        else:
            text = self.text("escalation.gate", step=self.step(data), pending=pending)
        return f"{text}\n{self.text('open', link=self.link(data))}"

    def escalation(self, recipient_name: str, item: Item) -> Rendered:
        subject = self.text("escalation.subject", step=self.step(item.data), whose=self.whose(item.data))
        body = "\n\n".join(
            [
                self.text("greeting", name=recipient_name),
                self.line(item),
                self.text("footer.escalation"),
            ]
        )
        return Rendered(subject, body + "\n")

    def digest(self, recipient_name: str, items: Sequence[Item]) -> Rendered:
        subject = self.text("digest.subject", count=len(items))
        parts = [self.text("greeting", name=recipient_name), self.text("digest.intro")]
        parts += [f"- {self.line(item).replace(chr(10), chr(10) + '  ')}" for item in items]
        parts.append(self.text("footer", link=self.preferences_link))
        return Rendered(subject, "\n\n".join(parts) + "\n")
