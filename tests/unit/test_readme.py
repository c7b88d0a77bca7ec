"""The README's commands name things that exist: its token example works on a fresh `./dev up`."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from meritloop.cli import app
from meritloop.demo import DEMO_PEOPLE, HR_KEY

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_the_token_example_names_the_demo_hr_person() -> None:
    emails = re.findall(r"meritloop token --email (\S+) --role hr", README)
    hr = next(person for person in DEMO_PEOPLE if person.key == HR_KEY)
    assert emails == [hr.email]


def test_every_meritloop_command_in_the_readme_exists() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    used = set(re.findall(r"`?meritloop (\w[\w-]*)", README))
    assert {"token", "tokens", "demo-cycle"} <= used
    assert used <= commands, used - commands
