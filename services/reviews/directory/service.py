"""Directory rules: validation, versioning and the events each change publishes.

The /people API, the SCIM adapter (services/reviews/scim) and the importer all change
people through this layer, so uniqueness, the manager rules and the events live once.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.reviews.directory.repository import PersonRepository
from services.reviews.directory.schemas import (
    DIRECTORY_FIELDS,
    NULLABLE_FIELDS,
    EmailEntry,
    PersonCreate,
    PersonFields,
    PersonUpdate,
    normalized_emails,
)
from services.reviews.events import outbox, person_event_data, person_verb
from services.reviews.models import Person, PersonEmail, email_key, path_of
from shared.database import utcnow
from shared.errors import Conflict, NotFound, Problem, ValidationFailed


class PreconditionFailed(Problem):
    status, type_name, title = 412, "precondition-failed", "Precondition Failed"


def parse_etag(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (``W/"3"`` or ``"3"``); None for absent or ``*``."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise PreconditionFailed(f"If-Match {value!r} names no version of this person.") from None


# GET /people?q=: the text to find people by, trimmed, in characters.
SEARCH_MIN = 2
SEARCH_MAX = 100


def search_text(q: str) -> str:
    """``q`` without the spaces at either end; a 422 naming ``q`` when what is left is too short or long,
    or holds a control character (PostgreSQL cannot even compare a NUL byte)."""
    text = q.strip()
    message = None
    if not SEARCH_MIN <= len(text) <= SEARCH_MAX:
        message = f"give {SEARCH_MIN} to {SEARCH_MAX} characters (spaces at either end do not count)"
    elif any(unicodedata.category(character) == "Cc" for character in text):
        message = "a name or an e-mail address holds no control character"
    if message is not None:
        raise ValidationFailed(f"q: {message}", [{"field": "q", "in": "query", "message": message}])
    return text


def etag(person: Person) -> str:
    return f'W/"{person.version}"'


def email_entries(person: Person) -> list[EmailEntry]:
    return [EmailEntry(value=row.value, type=row.type, primary=row.primary) for row in person.emails]


def current_fields(person: Person) -> PersonFields:
    values = {name: getattr(person, name) for name in DIRECTORY_FIELDS if name != "emails"}
    return PersonFields.model_validate({**values, "emails": email_entries(person)})


class PeopleService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.people = PersonRepository.from_session(session)

    async def get(self, person_id: uuid.UUID) -> Person:
        person = await self.people.get(person_id)
        if person is None:
            raise NotFound(f"No person with id {person_id}.")
        return person

    async def create(self, data: PersonCreate | PersonFields) -> Person:
        fields = data.fields() if isinstance(data, PersonCreate) else data
        values = fields.model_dump()
        values["emails"] = fields.emails
        manager_path = await self._check(None, values)
        person = Person(id=uuid.uuid4(), version=1, emails=[])
        self._assign(person, values)
        person.path = path_of(person.id, manager_path)
        await self.people.add(person)
        self._publish(person)
        return person

    async def update(
        self, person_id: uuid.UUID, data: PersonUpdate | dict[str, Any], *, expected_version: int | None = None
    ) -> Person:
        """Change only the fields given (a PATCH)."""
        person = await self.get(person_id)
        changes = data.changes() if isinstance(data, PersonUpdate) else dict(data)
        self._require_version(person, expected_version)
        for name, value in changes.items():
            if value is None and name not in NULLABLE_FIELDS:
                raise ValidationFailed.field(name, "may not be null")
        values = self._merged(person, changes)
        return await self._change(person, values)

    async def replace(
        self, person_id: uuid.UUID, fields: PersonFields, *, expected_version: int | None = None
    ) -> Person:
        """Set every directory field (a PUT); what ``fields`` leaves empty is cleared."""
        person = await self.get(person_id)
        self._require_version(person, expected_version)
        values = fields.model_dump()
        values["emails"] = fields.emails
        return await self._change(person, values)

    async def deactivate(self, person_id: uuid.UUID, *, expected_version: int | None = None) -> Person:
        """Deactivate; the record and its history stay."""
        return await self.update(person_id, {"active": False}, expected_version=expected_version)

    async def directory(
        self,
        *,
        limit: int,
        offset: int,
        q: str | None = None,
        every_address: bool = False,
        active: bool | None = None,
        department: str | None = None,
        organization: str | None = None,
        division: str | None = None,
        location: str | None = None,
        ids: list[uuid.UUID] | None = None,
    ) -> tuple[list[Person], int]:
        """A page of the directory, by name. ``q`` finds people whose display name or e-mail address
        contains it (any case); the primary address only, unless ``every_address`` (for the callers who
        see every address of a person: a search never tells more than the answer shows)."""
        return await self.people.list(
            limit=limit,
            offset=offset,
            active=active,
            department=department,
            organization=organization,
            division=division,
            location=location,
            ids=ids,
            text=None if q is None else search_text(q),
            every_address=every_address,
        )

    # Hierarchy reads

    async def reports(
        self, person_id: uuid.UUID, *, all_levels: bool, limit: int, offset: int, active: bool | None = None
    ) -> tuple[list[tuple[Person, int]], int]:
        await self._require_exists(person_id)
        return await self.people.reports(person_id, all_levels=all_levels, limit=limit, offset=offset, active=active)

    async def managers(self, person_id: uuid.UUID) -> list[tuple[Person, int]]:
        await self._require_exists(person_id)
        return await self.people.manager_chain(person_id)

    async def _require_exists(self, person_id: uuid.UUID) -> None:
        if not await self.people.exists(person_id):
            raise NotFound(f"No person with id {person_id}.")

    # Writing

    def _require_version(self, person: Person, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != person.version:
            raise PreconditionFailed(
                f"The person is at version {person.version}, not {expected_version}; read it again.",
                version=person.version,
            )

    def _merged(self, person: Person, changes: dict[str, Any]) -> dict[str, Any]:
        values = current_fields(person).model_dump()
        values["emails"] = email_entries(person)
        if "email" in changes and "emails" not in changes:
            # A new primary address keeps the others; the old primary one is dropped.
            old = person.email.lower()
            others = [entry for entry in values["emails"] if str(entry.value).lower() != old]
            changes = {**changes, "emails": others}
        values.update(changes)
        if "emails" in changes and "email" not in changes:
            entries: list[EmailEntry] = [EmailEntry.model_validate(entry) for entry in changes["emails"]]
            if not entries:
                raise ValidationFailed.field("emails", "a person needs at least one e-mail address")
            primary = next((entry for entry in entries if entry.primary), entries[0])
            values["email"] = str(primary.value)
        values["emails"] = normalized_emails(values["email"], [EmailEntry.model_validate(e) for e in values["emails"]])
        return values

    async def _change(self, person: Person, values: dict[str, Any]) -> Person:
        manager_path = await self._check(person, values)
        before = self._snapshot(person)
        old_manager = person.manager_id
        self._assign(person, values)
        if self._snapshot(person) != before:
            person.version += 1
            await self.session.flush()
            if person.manager_id != old_manager:
                # The person and everyone below them move with one statement.
                new_path = path_of(person.id, manager_path)
                await self.people.move_subtree(person.path, new_path)
                set_committed_value(person, "path", new_path)
            self._publish(person)
        return person

    async def _check(self, person: Person | None, values: dict[str, Any]) -> str | None:
        """Refuse a taken key or a bad manager; returns the manager's path (None: no manager)."""
        own = person.id if person is not None else None
        entries: list[EmailEntry] = values["emails"]
        keys = [email_key(str(entry.value)) for entry in entries]
        owners = await self.people.owners(
            user_name=values["user_name"], external_id=values.get("external_id"), email_keys=keys
        )
        labels = {"user_name": "userName", "external_id": "externalId", "email": "e-mail address"}
        for field in ("email", "user_name", "external_id"):
            if owners.get(field, set()) - {own}:
                raise Conflict(f"Another person already has this {labels[field]}.", field=field)
        manager_id = values.get("manager_id")
        if manager_id is None:
            return None
        return await self._require_manager(manager_id, for_person=person)

    async def _require_manager(self, manager_id: uuid.UUID, *, for_person: Person | None = None) -> str:
        if for_person is not None and manager_id == for_person.id:
            raise ValidationFailed.field("manager_id", "a person cannot be their own manager")
        manager_path = await self.people.path_of(manager_id)
        if manager_path is None:
            raise ValidationFailed.field("manager_id", f"no person with id {manager_id}")
        # A cycle exists when the person is above the new manager: their path starts the manager's.
        if for_person is not None and manager_path.startswith(for_person.path):
            raise ValidationFailed.field("manager_id", "this manager reports to the person (a cycle)")
        return manager_path

    def _assign(self, person: Person, values: dict[str, Any]) -> None:
        was_active = person.active if person.id is not None else None
        for name in DIRECTORY_FIELDS:
            if name == "emails":
                continue
            setattr(person, name, values.get(name))
        if person.active is None:
            person.active = True
        self._assign_emails(person, values["emails"])
        if not person.active and (was_active is None or was_active):
            person.deactivated_at = utcnow()
        elif person.active:
            person.deactivated_at = None

    def _assign_emails(self, person: Person, entries: list[EmailEntry]) -> None:
        existing = {row.value_key: row for row in person.emails}
        wanted: list[PersonEmail] = []
        for entry in entries:
            key = email_key(str(entry.value))
            row = existing.get(key)
            if row is None:
                row = PersonEmail(value_key=key)
            row.value, row.type, row.primary = str(entry.value), entry.type, entry.primary
            wanted.append(row)
        if [row.value_key for row in wanted] != [row.value_key for row in person.emails]:
            person.emails = wanted

    def _snapshot(self, person: Person) -> tuple[Any, ...]:
        plain = tuple(getattr(person, name) for name in DIRECTORY_FIELDS if name != "emails")
        emails = tuple((row.value_key, row.value, row.type, bool(row.primary)) for row in person.emails)
        return (*plain, emails)

    def _publish(self, person: Person) -> None:
        outbox.add(self.session, "person", person_verb(person), person_event_data(person), subject=str(person.id))
