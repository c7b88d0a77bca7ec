"""Message catalogues (gettext .po files, compiled in memory at start) and locale-aware formatting.

English is the source language: a message's msgid is its English text. A person's language is
their directory ``locale`` (``de-DE`` -> German); anything without a catalogue falls back to English.
"""

from __future__ import annotations

import gettext
import io
from datetime import date as Date
from datetime import datetime as DateTime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"


def marked(message: str) -> str:
    """A message for the catalogue, translated where the page shows it. Modules import it as ``_``, the
    name tests/web/test_units.py and gettext's tools look for."""
    return message


def load_catalogues(folder: Path = LOCALES_DIR) -> dict[str, gettext.NullTranslations]:
    """``language -> translations`` for every ``<lang>/LC_MESSAGES/messages.po`` (English built in)."""
    found: dict[str, gettext.NullTranslations] = {DEFAULT_LANGUAGE: gettext.NullTranslations()}
    for po_file in sorted(folder.glob("*/LC_MESSAGES/messages.po")):
        language = po_file.parent.parent.name
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        found[language] = gettext.GNUTranslations(compiled)
    return found


def language_of(locale: str | None, available: set[str] | frozenset[str]) -> str:
    """``de-DE``, ``de_AT`` or ``de`` -> ``de`` when there is a German catalogue; else English."""
    if not locale:
        return DEFAULT_LANGUAGE
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return DEFAULT_LANGUAGE
    return parsed.language if parsed.language in available else DEFAULT_LANGUAGE


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class Formatter:
    """Dates and numbers the way the person's language writes them, in their time zone."""

    def __init__(self, language: str, timezone: str | None) -> None:
        self.language = language
        self.tz = zone(timezone)

    def datetime(self, value: str | DateTime | None) -> str:
        if value is None or value == "":
            return ""
        moment = DateTime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment, "medium", tzinfo=self.tz, locale=self.language)

    def date(self, value: str | Date | DateTime | None) -> str:
        if value is None or value == "":
            return ""
        day = Date.fromisoformat(value[:10]) if isinstance(value, str) else value
        if isinstance(day, DateTime):
            day = day.astimezone(self.tz).date()
        return format_date(day, "medium", locale=self.language)

    def number(self, value: float | str | None, digits: int = 1) -> str:
        if value is None or value == "":
            return ""
        return format_decimal(round(float(value), digits), locale=self.language)

    def money(self, value: float | str | Decimal | None, currency: str) -> str:
        """An amount in its currency, to the cent, as the person's language writes it (never through float)."""
        if value is None or value == "":
            return ""
        return format_currency(Decimal(str(value)), currency, locale=self.language)
