"""The HTML part of a mail, laid out from the mail's plain text (docs/notifications.md, "The HTML part").

Pure: the catalogue renders the text once and the delivery log keeps it; this only lays that
text out (a paragraph per blank-line-separated block, a list for the digest's ``- `` items,
http(s) addresses as links), so the two parts of a mail can never say different things.
"""

from __future__ import annotations

import re
from html import escape

# Matched on text already escaped: a quote or angle bracket, now an entity, ends the address,
# as it would in the plain text; ``&amp;`` (a query string's separator) stays part of it.
_URL = re.compile(r"\bhttps?://(?:(?!&(?:quot|#x27|lt|gt);)\S)+", re.IGNORECASE)
_PUNCTUATION = ".,;:!?"
_ITEM = "- "

_DOCUMENT = """<!DOCTYPE html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body style="font-family:sans-serif;line-height:1.5">
{content}
</body>
</html>
"""


def to_html(text: str, *, language: str) -> str:
    """The whole HTML document for a mail whose plain text is ``text``, in ``language``."""
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip("\n"))
    content: list[str] = []
    items: list[str] = []
    for block in blocks:
        if not block.strip():
            continue
        if block.startswith(_ITEM):
            items += _items(block)
            continue
        if items:
            content.append(_list(items))
            items = []
        content.append(f"<p>{_lines(block.splitlines())}</p>")
    if items:
        content.append(_list(items))
    return _DOCUMENT.format(language=escape(language, quote=True), content="\n".join(content))


def _items(block: str) -> list[str]:
    """A list block's items: a ``- `` line starts one, an indented line continues it."""
    items: list[list[str]] = []
    for line in block.splitlines():
        if line.startswith(_ITEM) or not items:
            items.append([line.removeprefix(_ITEM)])
        else:
            items[-1].append(line)
    return [_lines(lines) for lines in items]


def _list(items: list[str]) -> str:
    # The plain text keeps its items apart by blank lines; the margin does that here.
    rows = "\n".join(f'<li style="margin-bottom:0.75em">{item}</li>' for item in items)
    return f"<ul>\n{rows}\n</ul>"


def _lines(lines: list[str]) -> str:
    return "<br>\n".join(_inline(line.strip()) for line in lines)


def _inline(line: str) -> str:
    # Escaped before anything else: markup is only ever added around escaped text, so a name
    # from the directory such as "<script>" or "Ada & Bob" reads as written and adds none.
    return _URL.sub(_link, escape(line, quote=True))


def _link(match: re.Match[str]) -> str:
    url, tail = _trim(match.group())
    if url.endswith("://"):
        return match.group()
    return f'<a href="{url}">{url}</a>{tail}'


def _trim(url: str) -> tuple[str, str]:
    """The address without the sentence's punctuation after it ("see https://x.example/a.")."""
    end = len(url)
    while end and _closes_sentence(url[:end]):
        end -= 1
    return url[:end], url[end:]


def _closes_sentence(url: str) -> bool:
    last = url[-1]
    if last == ")":
        # Part of the address when it closes a parenthesis opened in it (a wiki's "Name_(thing)").
        return url.count("(") < url.count(")")
    # A trailing "&amp;" is an escaped "&" of the address, not a sentence's semicolon.
    return last in _PUNCTUATION and not url.endswith("&amp;")
