"""Development tokens for many people at once, read from the directory in one process.

Starting the ``meritloop`` command costs about a second, so a script that needs a token for
every person of a department asks for them all in one call instead of one process each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta

from services.reviews.directory.repository import PersonRepository
from services.reviews.models import Person
from shared.auth import Role, mint_token
from shared.database import create_engine, create_sessionmaker
from shared.settings import Settings

PAGE = 500


class UnknownPeople(LookupError):
    """Some of the e-mail addresses or ids asked for are not active people of the directory."""


@dataclass(frozen=True, slots=True)
class PersonToken:
    person_id: str
    display_name: str
    email: str
    department: str | None
    roles: list[str]
    token: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def _chosen_people(
    people: PersonRepository, departments: Sequence[str], emails: Sequence[str], ids: Sequence[uuid.UUID]
) -> list[Person]:
    chosen: dict[uuid.UUID, Person] = {}
    missing: list[str] = []
    for department in departments:
        offset = 0
        while True:
            page, total = await people.list(limit=PAGE, offset=offset, active=True, department=department)
            chosen.update((person.id, person) for person in page)
            offset += PAGE
            if offset >= total:
                break
    for email in emails:
        person = await people.get_by_email(email)
        if person is None or not person.active:
            missing.append(email)
        else:
            chosen[person.id] = person
    for person_id in ids:
        found = await people.get(person_id)
        if found is None or not found.active:
            missing.append(str(person_id))
        else:
            chosen[found.id] = found
    if missing:
        raise UnknownPeople(f"not an active person of the directory: {', '.join(missing)}")
    return sorted(chosen.values(), key=lambda person: (person.display_name, person.id))


async def tokens_for(
    settings: Settings,
    *,
    departments: Sequence[str] = (),
    emails: Sequence[str] = (),
    ids: Sequence[uuid.UUID] = (),
    extra_roles: Iterable[Role] = (),
    ttl: timedelta = timedelta(hours=8),
    database_url: str | None = None,
) -> list[PersonToken]:
    """A token for each chosen person: employee, manager when they manage someone, plus ``extra_roles``."""
    engine = create_engine(database_url or settings.database_url("reviews"))
    try:
        async with create_sessionmaker(engine)() as session:
            people = PersonRepository.from_session(session)
            chosen = await _chosen_people(people, departments, emails, ids)
            managers = await people.with_reports([person.id for person in chosen])
    finally:
        await engine.dispose()
    extra = list(dict.fromkeys(extra_roles))
    result = []
    for person in chosen:
        roles = [Role.employee, *([Role.manager] if person.id in managers else []), *extra]
        roles = list(dict.fromkeys(roles))
        result.append(
            PersonToken(
                person_id=str(person.id),
                display_name=person.display_name,
                email=person.email,
                department=person.department,
                roles=[role.value for role in roles],
                token=mint_token(settings, person.id, roles, ttl=ttl),
            )
        )
    return result
