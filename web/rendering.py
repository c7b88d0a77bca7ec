"""Page rendering: Jinja2 with the person's language, formatting and the form's CSRF token."""

from __future__ import annotations

import gettext
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from web.i18n import DEFAULT_LANGUAGE, Formatter, language_of, load_catalogues
from web.session import Person, csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"


class Renderer:
    def __init__(self) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.catalogues = load_catalogues()
        self.languages = frozenset(self.catalogues)

    def language(self, request: Request, person: Person | None) -> str:
        if person is not None and person.locale:
            return language_of(person.locale, self.languages)
        # Before sign-in there is no directory locale yet: the browser's first choice stands in.
        accepted = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
        return language_of(accepted or None, self.languages)

    def translations(self, language: str) -> gettext.NullTranslations:
        return self.catalogues.get(language, self.catalogues[DEFAULT_LANGUAGE])

    def page(
        self,
        request: Request,
        name: str,
        person: Person | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        language = self.language(request, person)
        translations = self.translations(language)
        values = {
            "_": translations.gettext,
            "ngettext": translations.ngettext,
            "lang": language,
            "fmt": Formatter(language, person.timezone if person else None),
            "csrf_token": csrf_token(request),
            "person": person,
            "request": request,
            "path": request.url.path,
            "errors": {},
            **context,
        }
        html = self.environment.get_template(name).render(values)
        return HTMLResponse(html, status_code=status_code)


def renderer(request: Request) -> Renderer:
    found: Renderer = request.app.state.renderer
    return found
