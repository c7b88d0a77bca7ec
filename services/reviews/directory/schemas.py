from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

# The attributes of a person the directory service sets; the /people API, SCIM and the
# importer all describe a change in these names, so the rules in service.py live once.
DIRECTORY_FIELDS = (
    "user_name",
    "external_id",
    "email",
    "emails",
    "display_name",
    "given_name",
    "family_name",
    "title",
    "locale",
    "timezone",
    "employee_number",
    "cost_center",
    "organization",
    "division",
    "department",
    "location",
    "hire_date",
    "manager_id",
    "active",
)
# Fields that may be cleared (set to null); the others always hold a value.
NULLABLE_FIELDS = frozenset(DIRECTORY_FIELDS) - {"user_name", "email", "emails", "display_name", "active"}


class EmailEntry(BaseModel):
    """One e-mail address; exactly one of a person's addresses is primary."""

    value: EmailStr
    type: str | None = Field(None, max_length=20)
    primary: bool = False


class PersonFields(BaseModel):
    """Every directory attribute of a person, as one change to the service layer.

    ``email`` is the primary address; ``emails`` every address (the primary one included).
    When only one of them is given the other follows from it.
    """

    user_name: str = Field(min_length=1, max_length=320)
    external_id: str | None = Field(None, min_length=1, max_length=255)
    email: EmailStr
    emails: list[EmailEntry] = Field(default_factory=list)
    display_name: str = Field(min_length=1, max_length=200)
    given_name: str | None = Field(None, max_length=200)
    family_name: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=200)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    employee_number: str | None = Field(None, max_length=100)
    cost_center: str | None = Field(None, max_length=200)
    organization: str | None = Field(None, max_length=200)
    division: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=200)
    location: str | None = Field(None, max_length=100)
    hire_date: date | None = None
    manager_id: uuid.UUID | None = None
    active: bool = True

    @model_validator(mode="after")
    def _primary_email_is_listed(self) -> PersonFields:
        self.emails = normalized_emails(self.email, self.emails)
        return self


def normalized_emails(primary: str, emails: list[EmailEntry]) -> list[EmailEntry]:
    """``emails`` with ``primary`` in it, marked primary, and no address twice (ignoring case)."""
    seen: set[str] = set()
    result: list[EmailEntry] = [EmailEntry(value=primary, type=_type_of(primary, emails) or "work", primary=True)]
    seen.add(primary.lower())
    for entry in emails:
        key = str(entry.value).lower()
        if key in seen:
            continue
        seen.add(key)
        result.append(EmailEntry(value=entry.value, type=entry.type, primary=False))
    return result


def _type_of(value: str, emails: list[EmailEntry]) -> str | None:
    return next((entry.type for entry in emails if str(entry.value).lower() == value.lower()), None)


class OptionalAttributes(BaseModel):
    """The directory attributes a create or an update may leave out."""

    department: str | None = Field(None, max_length=200)
    user_name: str | None = Field(None, min_length=1, max_length=320)
    external_id: str | None = Field(None, min_length=1, max_length=255)
    given_name: str | None = Field(None, max_length=200)
    family_name: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=200)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    employee_number: str | None = Field(None, max_length=100)
    cost_center: str | None = Field(None, max_length=200)
    organization: str | None = Field(None, max_length=200)
    division: str | None = Field(None, max_length=200)
    location: str | None = Field(
        None, max_length=100, description='Where the person works, as free text (e.g. "Berlin").'
    )
    hire_date: date | None = Field(None, description="The first day of employment (YYYY-MM-DD).")


class PersonCreate(OptionalAttributes):
    """A new person; ``user_name`` defaults to the e-mail address."""

    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    manager_id: uuid.UUID | None = None

    def fields(self) -> PersonFields:
        values = self.model_dump()
        values["user_name"] = values["user_name"] or values["email"]
        return PersonFields.model_validate(values)


class PersonUpdate(OptionalAttributes):
    """Only the fields given are changed."""

    email: EmailStr | None = None
    display_name: str | None = Field(None, min_length=1, max_length=200)
    manager_id: uuid.UUID | None = None
    active: bool | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class PersonRead(BaseModel):
    """The directory basics every signed-in person may see."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_name: str
    email: str
    display_name: str
    given_name: str | None
    family_name: str | None
    title: str | None
    department: str | None
    organization: str | None
    division: str | None
    location: str | None
    locale: str | None
    timezone: str | None
    manager_id: uuid.UUID | None
    active: bool
    version: int
    created_at: datetime
    modified_at: datetime | None


class EmailRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    value: str
    type: str | None
    primary: bool


class PersonRecord(PersonRead):
    """The whole directory record, for HR and admins."""

    external_id: str | None
    employee_number: str | None
    cost_center: str | None
    hire_date: date | None
    emails: list[EmailRead]
    deactivated_at: datetime | None


class ReportsDepth(StrEnum):
    direct = "direct"
    all = "all"


class ReportRead(PersonRead):
    level: int = Field(description="1 for a direct report, 2 for a report's report, and so on.")


class ManagerRead(PersonRead):
    level: int = Field(description="1 for the direct manager, 2 for the skip-level manager, and so on.")


class OrgUnit(BaseModel):
    organization: str | None
    division: str | None
    department: str | None
    people: int = Field(description="Active people in this unit.")
