"""The development mail sink: an SMTP server that keeps every mail in a Maildir for ``/dev/mails``.

aiosmtpd's own command line with its Maildir handler; ``meritloop up`` runs it as a process.
"""

from __future__ import annotations

import sys

from notifications.settings import NotificationSettings


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
