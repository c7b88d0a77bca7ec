"""The mails' words in English and German, and how one mail is put together from its notifications.

Pure functions: the caller supplies the people's names (from the projection) and the time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifications.kinds import APPROVAL_ESCALATED, DISPUTE_ESCALATED, UPWARD_EXTENDED, Kind

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
        "feedback_request": "{name} asked you for feedback, by {due}.",
        "feedback_request.nobody": "You were asked for feedback, by {due}.",
        "feedback_reminder": "Reminder: {name} is waiting for your feedback, due {due}.",
        "feedback_reminder.nobody": "Reminder: a request for your feedback is due {due}.",
        "checkin.subject": "Reminder: 1:1{with}, {when}",
        "checkin": "Your 1:1{with} starts {when}.",
        "with": " with {name}",
        "team": "the team of {name}",
        "team.unknown": "a team",
        "approval_step": "Pay approval: the proposals for {team} wait for your decision.",
        "approval_reminder": "Reminder: the pay proposals for {team} still wait for your decision.",
        "escalation.approval.subject": "Overdue: Pay approval for {team}",
        "escalation.approval": "The pay approval for {team} is overdue. It has been escalated to you.",
        "upward_feedback": "You may now give anonymous feedback on your manager, until {due}.",
        "upward_feedback.extended": "The anonymous feedback on your manager now stays open until {due}.",
        "upward_results": "The results of an upward feedback about you are ready.",
        "pay_change": "Your new pay from the review cycle applies from {day}. Your statement shows the details.",
        "dispute_reminder": "Reminder: a rating dispute{whose} waits for your answer, due {due}.",
        "escalation.dispute.subject": "Overdue: a rating dispute{whose}",
        "escalation.dispute": "A rating dispute{whose} was due {due} and is not answered. "
        "It has been escalated to you.",
        "escalation.dispute.again": "It had been escalated {earlier} time(s) before.",
        "whose": " for {name}",
        "by": " by {name}",
        "open": "Open it: {link}",
        "footer": "You receive this because you use Meritloop. Choose what you receive: {link}",
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
        "feedback_request": "{name} bittet Sie bis {due} um Feedback.",
        "feedback_request.nobody": "Sie wurden bis {due} um Feedback gebeten.",
        "feedback_reminder": "Erinnerung: {name} wartet auf Ihr Feedback, fällig am {due}.",
        "feedback_reminder.nobody": "Erinnerung: Eine Bitte um Ihr Feedback ist am {due} fällig.",
        "checkin.subject": "Erinnerung: 1:1-Gespräch{with}, {when}",
        "checkin": "Ihr 1:1-Gespräch{with} beginnt am {when}.",
        "with": " mit {name}",
        "team": "das Team von {name}",
        "team.unknown": "ein Team",
        "approval_step": "Gehaltsfreigabe: Die Vorschläge für {team} warten auf Ihre Entscheidung.",
        "approval_reminder": "Erinnerung: Die Gehaltsvorschläge für {team} warten noch auf Ihre Entscheidung.",
        "escalation.approval.subject": "Überfällig: Gehaltsfreigabe für {team}",
        "escalation.approval": "Die Gehaltsfreigabe für {team} ist überfällig. Sie wurde an Sie eskaliert.",
        "upward_feedback": "Sie können jetzt anonym Feedback zu Ihrer Führungskraft geben, bis {due}.",
        "upward_feedback.extended": "Das anonyme Feedback zu Ihrer Führungskraft ist jetzt bis {due} offen.",
        "upward_results": "Die Ergebnisse eines Aufwärts-Feedbacks zu Ihnen liegen vor.",
        "pay_change": "Ihr neues Gehalt aus dem Beurteilungszyklus gilt ab dem {day}. Die Einzelheiten stehen in "
        "Ihrer Vergütungsübersicht.",
        "dispute_reminder": "Erinnerung: Ein Einspruch gegen eine Bewertung{whose} wartet auf Ihre Antwort, "
        "fällig am {due}.",
        "escalation.dispute.subject": "Überfällig: Einspruch gegen eine Bewertung{whose}",
        "escalation.dispute": "Ein Einspruch gegen eine Bewertung{whose} war am {due} fällig und ist nicht "
        "beantwortet. Er wurde an Sie eskaliert.",
        "escalation.dispute.again": "Er war zuvor schon {earlier}-mal eskaliert worden.",
        "whose": " für {name}",
        "by": " von {name}",
        "open": "Öffnen: {link}",
        "footer": "Sie erhalten diese Nachricht, weil Sie Meritloop nutzen. Wählen Sie, was Sie erhalten: {link}",
        "footer.escalation": "Eskalationen werden immer gesendet.",
    },
}

DATE_FORMATS = {"en": "%d %b %Y, %H:%M", "de": "%d.%m.%Y, %H:%M"}
DAY_FORMATS = {"en": "%d %b %Y", "de": "%d.%m.%Y"}
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

    def __init__(
        self, language: str, tz: ZoneInfo, web_base_url: str, names: Mapping[str, str], *, recipient: str = ""
    ) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.tz = tz
        self.base = web_base_url.rstrip("/")
        self.names = names  # person id -> display name, for "manager review for Ada"
        self.recipient = recipient  # their id: a 1:1 reminder names the other participant

    def text(self, key: str, **values: object) -> str:
        return CATALOGUE[self.language][key].format(**values)

    def step(self, data: Mapping[str, Any]) -> str:
        step = str(data.get("step") or "unknown")
        key = f"step.{step}"
        return CATALOGUE[self.language].get(key) or self.text("step.unknown")

    def due(self, data: Mapping[str, Any], key: str = "due_at", *, with_zone: bool = True) -> str:
        raw = data.get(key)
        if not raw:
            return "?"
        if len(str(raw)) == 10:  # a day (feedback's due_on), not a moment: no time, no zone
            return date.fromisoformat(str(raw)).strftime(DAY_FORMATS[self.language])
        moment = datetime.fromisoformat(str(raw)).astimezone(self.tz)
        shown = moment.strftime(DATE_FORMATS[self.language])
        return f"{shown} ({self.tz.key})" if with_zone else shown

    def name(self, data: Mapping[str, Any], key: str) -> str | None:
        return self.names.get(str(data.get(key)))

    def team(self, data: Mapping[str, Any]) -> str:
        name = self.name(data, "manager_id")
        return self.text("team", name=name) if name else self.text("team.unknown")

    def other(self, data: Mapping[str, Any]) -> str:
        """The 1:1's other participant, as " with Ada" (nothing when unknown)."""
        key = "report_id" if str(data.get("manager_id")) == self.recipient else "manager_id"
        name = self.name(data, key)
        return self.text("with", name=name) if name else ""

    def disputer(self, data: Mapping[str, Any]) -> str:
        """ " by Ada": who disputes, a name from the directory (the event carries only ids)."""
        name = self.name(data, "person_id")
        return self.text("by", name=name) if name else ""

    def whose(self, data: Mapping[str, Any]) -> str:
        if str(data.get("step")) not in ABOUT_SOMEONE_ELSE:
            return ""
        name = self.names.get(str(data.get("person_id")))
        return self.text("whose", name=name) if name else ""

    def link(self, data: Mapping[str, Any], kind: Kind | None = None, event_type: str = "") -> str:
        if kind in (Kind.feedback_request, Kind.feedback_reminder):
            # The web app lists the requests asking the reader, with answer and decline, on one page.
            return f"{self.base}/feedback/requests"
        if kind is Kind.checkin_reminder:
            return f"{self.base}/checkins/{data.get('series_id')}"
        if kind is Kind.upward_feedback:
            return f"{self.base}/upward"
        if kind is Kind.upward_results:
            return f"{self.base}/upward/{data.get('pulse_id')}/results"
        if kind is Kind.pay_change:
            return f"{self.base}/statements"
        if kind is Kind.dispute_reminder or event_type == DISPUTE_ESCALATED:
            # HR's queue; the dispute itself is read through the API (the web app has no page per dispute).
            return f"{self.base}/hr/disputes"
        if kind in (Kind.approval_step, Kind.approval_reminder) or event_type == APPROVAL_ESCALATED:
            # The chain's own page: the approver (a manager up the line, HR) decides there.
            return f"{self.base}/approvals/{data.get('cycle_id')}/{data.get('manager_id')}"
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
        elif item.kind in (Kind.feedback_request, Kind.feedback_reminder):
            name = self.name(data, "requester_id")
            due = self.due(data, "due_on")
            text = self.text(item.kind.value, name=name, due=due) if name else self.text(f"{item.kind}.nobody", due=due)
        elif item.kind is Kind.checkin_reminder:
            text = self.text("checkin", **{"with": self.other(data)}, when=self.due(data, "starts_at"))
        elif item.event_type == UPWARD_EXTENDED:
            text = self.text("upward_feedback.extended", due=self.due(data, "closes_at"))
        elif item.kind is Kind.upward_feedback:
            text = self.text("upward_feedback", due=self.due(data, "closes_at"))
        elif item.kind is Kind.upward_results:
            text = self.text("upward_results")
        elif item.kind is Kind.pay_change:
            text = self.text("pay_change", day=self.due(data, "effective_date"))
        elif item.kind in (Kind.approval_step, Kind.approval_reminder):
            text = self.text(item.kind.value, team=self.team(data))
        elif item.event_type == APPROVAL_ESCALATED:
            text = self.text("escalation.approval", team=self.team(data))
        elif item.kind is Kind.dispute_reminder:
            text = self.text("dispute_reminder", whose=self.disputer(data), due=self.due(data))
        elif item.event_type == DISPUTE_ESCALATED:
            text = self.text("escalation.dispute", whose=self.disputer(data), due=self.due(data))
            count = data.get("escalation")
            earlier = count - 1 if isinstance(count, int) else 0  # events before the count was carried: the first
            if earlier > 0:
                text += " " + self.text("escalation.dispute.again", earlier=earlier)
        elif "task_id" in data:
            text = self.text("escalation.task", step=self.step(data), whose=self.whose(data), due=self.due(data))
        else:
            text = self.text("escalation.gate", step=self.step(data), pending=pending)
        return f"{text}\n{self.text('open', link=self.link(data, item.kind, item.event_type))}"

    def single(self, recipient_name: str, item: Item) -> Rendered:
        """A mail of its own (an escalation, a 1:1 reminder): sent at once, not in the digest."""
        data = item.data
        if item.kind is Kind.checkin_reminder:
            # No zone in the subject (the body has it): a long subject with a parenthesis is
            # folded by the mail library into one with a leading space.
            when = self.due(data, "starts_at", with_zone=False)
            subject = self.text("checkin.subject", **{"with": self.other(data)}, when=when)
            footer = self.text("footer", link=self.preferences_link)
        elif item.event_type == APPROVAL_ESCALATED:
            subject = self.text("escalation.approval.subject", team=self.team(data))
            footer = self.text("footer.escalation")
        elif item.event_type == DISPUTE_ESCALATED:
            subject = self.text("escalation.dispute.subject", whose=self.disputer(data))
            footer = self.text("footer.escalation")
        else:
            subject = self.text("escalation.subject", step=self.step(data), whose=self.whose(data))
            footer = self.text("footer.escalation")
        body = "\n\n".join([self.text("greeting", name=recipient_name), self.line(item), footer])
        return Rendered(subject, body + "\n")

    def digest(self, recipient_name: str, items: Sequence[Item]) -> Rendered:
        subject = self.text("digest.subject", count=len(items))
        parts = [self.text("greeting", name=recipient_name), self.text("digest.intro")]
        parts += [f"- {self.line(item).replace(chr(10), chr(10) + '  ')}" for item in items]
        parts.append(self.text("footer", link=self.preferences_link))
        return Rendered(subject, "\n\n".join(parts) + "\n")
