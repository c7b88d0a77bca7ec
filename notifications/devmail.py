"""``/dev/mails``: what the development mail sink received, readable in a browser (never in production)."""

from __future__ import annotations

import asyncio
import mailbox
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from notifications.service import NotificationService
from shared.database import SessionDep
from shared.errors import NotFound

router = APIRouter(prefix="/dev/mails", tags=["development"], include_in_schema=False)


@dataclass(frozen=True)
class Mail:
    key: str
    sender: str
    to: str
    subject: str
    date: str
    body: str


def read_mails(folder: Path) -> list[Mail]:
    """Every mail of the sink's Maildir, newest first."""
    if not (folder / "cur").exists() and not (folder / "new").exists():
        return []
    box = mailbox.Maildir(folder, create=False)
    mails: list[tuple[float, Mail]] = []
    parser = BytesParser(policy=policy.default)
    for key in box.iterkeys():
        message = parser.parsebytes(box.get_bytes(key))
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        date = str(message.get("Date", ""))
        try:
            when = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            when = 0.0
        mail = Mail(
            key=key,
            sender=str(message.get("From", "")),
            to=str(message.get("To", "")),
            subject=str(message.get("Subject", "")),
            date=date,
            body=body.get_content() if body is not None else "",
        )
        mails.append((when, mail))
    return [mail for _when, mail in sorted(mails, key=lambda pair: pair[0], reverse=True)]


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}td,th{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ccc}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:1rem}}</style></head>
<body><main><h1>{title}</h1>{content}</main></body></html>"""


def _folder(request: Request) -> Path:
    folder: Path = request.app.state.settings.mail_folder
    return folder


@router.get("", response_class=HTMLResponse)
async def list_mails(request: Request) -> HTMLResponse:
    folder = _folder(request)
    mails = await asyncio.to_thread(read_mails, folder)
    if not mails:
        content = f"<p>No mail has arrived in <code>{escape(str(folder))}</code> yet.</p>"
    else:
        rows = "".join(
            f'<tr><td>{escape(mail.date)}</td><td>{escape(mail.to)}</td><td><a href="mails/{escape(mail.key)}">'
            f"{escape(mail.subject)}</a></td></tr>"
            for mail in mails
        )
        content = (
            f"<p>{len(mails)} mail(s) received by the development mail sink.</p>"
            f"<table><thead><tr><th>date</th><th>to</th><th>subject</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    release = (
        '<form method="post" action="mails/send-digests"><p>Digests go out at each person\'s digest hour. '
        '<button type="submit">Send every waiting digest now</button></p></form>'
    )
    return HTMLResponse(PAGE.format(title="Development mail sink", content=release + content))


@router.post("/send-digests")
async def send_digests(request: Request, session: SessionDep) -> RedirectResponse:
    service: NotificationService = request.app.state.notifications
    await service.release_digests(session)
    return RedirectResponse(request.url_for("list_mails"), status_code=303)


@router.get("/{key}", response_class=HTMLResponse)
async def show_mail(key: str, request: Request) -> HTMLResponse:
    mails = await asyncio.to_thread(read_mails, _folder(request))
    mail = next((mail for mail in mails if mail.key == key), None)
    if mail is None:
        raise NotFound(f"No mail {key} in the development mail sink.")
    content = (
        f"<p><a href='../mails'>All mails</a></p><dl><dt>From</dt><dd>{escape(mail.sender)}</dd>"
        f"<dt>To</dt><dd>{escape(mail.to)}</dd><dt>Date</dt><dd>{escape(mail.date)}</dd></dl>"
        f"<pre>{escape(mail.body)}</pre>"
    )
    return HTMLResponse(PAGE.format(title=escape(mail.subject), content=content))
