"""The HTML part laid out from a mail's text: escaping, links, the digest's list, German. Pure, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser

import pytest

from notifications.dispatcher import email_message
from notifications.htmlmail import to_html
from notifications.kinds import TASK_CREATED, TASK_REMINDER, Kind
from notifications.messages import Item, Writer
from notifications.models import Delivery
from notifications.schedule import zone

# Every element the layout may produce: nothing that loads anything (no img, link, style, script).
ALLOWED = {"html", "head", "meta", "body", "p", "br", "ul", "li", "a"}
VOID = {"meta", "br"}


@dataclass
class Read:
    """What a browser would make of the HTML: elements, links and the text shown."""

    tags: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text)
    paragraphs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    lang: str | None = None
    attributes: set[str] = field(default_factory=set)


class Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.read = Read()
        self.open: list[str] = []
        self.href: str | None = None
        self.link_text = ""
        self.block = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.read.tags.append(tag)
        self.read.attributes |= {name for name, _value in attrs}
        if tag not in VOID:
            self.open.append(tag)
        values = dict(attrs)
        if tag == "html":
            self.read.lang = values.get("lang")
        if tag == "a":
            self.href, self.link_text = values.get("href"), ""
        if tag in ("p", "li"):
            self.block = ""
        if tag == "br":
            self.block += "\n"

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag, f"</{tag}> closes another element"
        if tag == "a":
            assert self.href is not None
            self.read.links.append((self.href, self.link_text))
        if tag == "p":
            self.read.paragraphs.append(self.block)
        if tag == "li":
            self.read.items.append(self.block)

    def handle_data(self, data: str) -> None:
        # The layout's own line breaks between tags are not text.
        shown = data.replace("\n", "")
        self.block += shown
        self.link_text += shown


def read(html: str) -> Read:
    reader = Reader()
    reader.feed(html)
    reader.close()
    assert reader.open == [], f"unclosed {reader.open}"
    assert set(reader.read.tags) <= ALLOWED, reader.read.tags
    assert reader.read.attributes <= {"lang", "charset", "name", "content", "style", "href"}
    return reader.read


def test_paragraphs_for_blocks_and_line_breaks_within_one() -> None:
    html = to_html("Hello Grace,\n\nFirst line.\nSecond line.\n\nBye.\n", language="en")
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert read(html).paragraphs == ["Hello Grace,", "First line.\nSecond line.", "Bye."]
    assert "<br>" in html


@pytest.mark.parametrize(
    "name",
    [
        "<script>alert(1)</script>",
        "Ada & Bob",
        '"><img src=x onerror=alert(1)>',
        "O'Brien <b>bold</b>",
        "&lt;already escaped&gt;",
    ],
)
def test_a_name_from_the_directory_never_becomes_markup(name: str) -> None:
    text = f"Hello {name},\n\nManager review for {name} was due.\nOpen it: https://x.example/tasks/t1\n"
    html = to_html(text, language="en")
    shown = read(html)  # only the layout's own elements and attributes
    assert shown.paragraphs == [
        f"Hello {name},",
        f"Manager review for {name} was due.\nOpen it: https://x.example/tasks/t1",
    ]
    assert shown.links == [("https://x.example/tasks/t1", "https://x.example/tasks/t1")]
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>" not in html


def test_ampersands_and_quotes_are_escaped() -> None:
    html = to_html('Ada & Bob said "hi" <there>', language="en")
    assert "Ada &amp; Bob said &quot;hi&quot; &lt;there&gt;" in html


@pytest.mark.parametrize(
    ("text", "url", "after"),
    [
        ("Open it: https://x.example/tasks/t1", "https://x.example/tasks/t1", ""),
        ("see https://x.example/a?b=1&c=two%20words#top.", "https://x.example/a?b=1&c=two%20words#top", "."),
        ("at https://x.example/a, then", "https://x.example/a", ", then"),
        ("(https://x.example/a)", "https://x.example/a", ")"),
        ("go to https://x.example/wiki/Name_(thing)!", "https://x.example/wiki/Name_(thing)", "!"),
        ('"https://x.example/q?x=1"', "https://x.example/q?x=1", '"'),
        ("<https://x.example/q>", "https://x.example/q", ">"),
        ("odd https://x.example/q?a&.", "https://x.example/q?a&", "."),
        ("http://127.0.0.1:8100/notifications: here", "http://127.0.0.1:8100/notifications", ": here"),
        ("HTTPS://X.EXAMPLE/A?", "HTTPS://X.EXAMPLE/A", "?"),
    ],
)
def test_http_addresses_become_links_without_the_sentences_punctuation(text: str, url: str, after: str) -> None:
    html = to_html(text, language="en")
    [(href, shown)] = read(html).links
    assert (href, shown) == (url, url)
    [paragraph] = read(html).paragraphs
    assert paragraph == text
    assert paragraph.split(url, 1)[1].startswith(after)


def test_a_query_strings_ampersand_is_escaped_in_the_attribute() -> None:
    html = to_html("https://x.example/a?b=1&c=2", language="en")
    assert '<a href="https://x.example/a?b=1&amp;c=2">https://x.example/a?b=1&amp;c=2</a>' in html
    assert unescape("https://x.example/a?b=1&amp;c=2") == "https://x.example/a?b=1&c=2"


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "ftp://x.example/file",
        "mailto:ada@example.com",
        "file:///etc/passwd",
        "data:text/html,<script>alert(1)</script>",
        "just https:// and nothing",
        "xhttps://x.example/glued",
    ],
)
def test_only_http_addresses_are_links(text: str) -> None:
    shown = read(to_html(text, language="en"))
    assert shown.links == []
    assert shown.paragraphs == [text]


def digest_text(language: str) -> str:
    writer = Writer(language, zone("Europe/Berlin"), "https://meritloop.example", {"p1": "Ada <Lovelace> & Co"})
    created = {
        "task_id": "t1",
        "step": "manager_review",
        "person_id": "p1",
        "due_at": "2027-01-15T16:00:00+00:00",
    }
    reminder = {"task_id": "t2", "due_at": "2027-01-15T16:00:00+00:00", "number": 1}
    items = [Item(Kind.task_created, TASK_CREATED, created), Item(Kind.task_reminder, TASK_REMINDER, reminder)]
    return writer.digest("Grete Müller", items).body


def test_the_digests_items_are_one_list_between_the_paragraphs() -> None:
    html = to_html(digest_text("en"), language="en")
    shown = read(html)
    assert shown.tags.count("ul") == 1
    assert shown.items == [
        "New task: Manager review for Ada <Lovelace> & Co, due 15 Jan 2027, 17:00 (Europe/Berlin).\n"
        "Open it: https://meritloop.example/tasks/t1",
        "Reminder: your task is due 15 Jan 2027, 17:00 (Europe/Berlin).\nOpen it: https://meritloop.example/tasks/t2",
    ]
    assert shown.paragraphs == [
        "Hello Grete Müller,",
        "Here is what happened in Meritloop since your last summary:",
        "You receive this because you use Meritloop. Choose what you receive: https://meritloop.example/notifications",
    ]
    assert [href for href, _text in shown.links] == [
        "https://meritloop.example/tasks/t1",
        "https://meritloop.example/tasks/t2",
        "https://meritloop.example/notifications",
    ]
    # The list stands where the items stood in the text: after the intro, before the footer.
    assert html.index("since your last summary") < html.index("<ul>") < html.index("</ul>") < html.index("You receive")


def test_a_list_item_of_several_lines_and_a_list_at_the_end() -> None:
    shown = read(to_html("Intro\n\n- one\n  more\n- two\n\n- three\n", language="en"))
    assert shown.items == ["one\nmore", "two", "three"]
    assert shown.tags.count("ul") == 1
    assert shown.paragraphs == ["Intro"]


def test_german_umlauts_stay_as_they_are_and_the_language_is_german() -> None:
    html = to_html(digest_text("de"), language="de")
    shown = read(html)
    assert shown.lang == "de"
    assert "Hallo Grete Müller," in shown.paragraphs
    assert shown.items[0].startswith("Neue Aufgabe: Beurteilung durch die Führungskraft für Ada <Lovelace> & Co")
    assert "fällig am 15.01.2027, 17:00 (Europe/Berlin)." in shown.items[0]
    # Written as characters (the part is UTF-8), not as character references.
    assert "Öffnen: <a href=" in html
    assert "&#" not in html


def test_nothing_remote_and_hardly_any_style() -> None:
    html = to_html(digest_text("en"), language="en")
    for absent in ("<img", "src=", "<link", "<style", "<script", "url(", "@import", "class="):
        assert absent not in html
    assert html.count("style=") == 1 + 2  # the body's font, and each of the two items' spacing


def test_the_mail_has_the_text_first_then_the_html_each_in_the_persons_language() -> None:
    body = digest_text("de")
    delivery = Delivery(
        id=uuid.uuid4(),
        recipient="grete@example.com",
        subject="Meritloop: 2 Neuigkeit(en) für Sie",
        created_at=datetime(2027, 1, 15, 7, 0, tzinfo=UTC),
        kind="digest",
        language="de",
        body=body,
    )
    message = email_message(delivery, "Meritloop <noreply@meritloop.example>")
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == "de"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content() == body
    assert html.get_content() == to_html(body, language="de")
    assert text["Content-Language"] == html["Content-Language"] == "de"
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
