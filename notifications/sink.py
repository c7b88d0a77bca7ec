"""The development mail sink: an SMTP server that keeps every mail in a Maildir for ``/dev/mails``.

aiosmtpd's own command line with its Maildir handler; ``meritloop up`` runs it as a process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from notifications.settings import NotificationSettings


def prepare_maildir(folder: Path) -> None:
    """The Maildir's three folders: Python's Maildir builds them only when the folder itself is new."""
    for part in ("tmp", "new", "cur"):
        (folder / part).mkdir(parents=True, exist_ok=True)


def mail_sink_argv(settings: NotificationSettings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aiosmtpd",
        "--nosetuid",
        "--smtputf8",
        "--listen",
        f"{settings.smtp_host}:{settings.smtp_port}",
        "--class",
        "aiosmtpd.handlers.Mailbox",
        str(settings.mail_folder.resolve()),
    ]
