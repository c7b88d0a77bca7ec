"""The SCIM User resource and its mapping to and from directory people.

Models, paths, filters and PATCH come from ``scim2-models``. The Enterprise User extension
is declared here only to accept ``manager`` as ``{"value": "<id>"}``: the library's version
requires ``$ref``, which Okta and Entra ID do not send.

A person's location is the locality of their work address (``addresses[type eq "work"]
.locality``, where Entra ID and Okta put the city); the other parts of an address are not
kept. SCIM has no hire date: it travels in Meritloop's own extension (``MERITLOOP_USER``).
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import Field
from scim2_models import (
    URN,
    Address,
    ComplexAttribute,
    Context,
    Email,
    Extension,
    Meta,
    Mutability,
    Name,
    Reference,
    Required,
    ScimPolicy,
    User,
)
from scim2_models import CaseExact as CaseExact

from services.reviews.directory.schemas import EmailEntry, PersonFields
from services.reviews.directory.service import etag
from services.reviews.models import Person

SCIM_JSON = "application/scim+json"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
# The form Entra ID asks of custom extensions; Okta accepts any URN.
MERITLOOP_USER = "urn:ietf:params:scim:schemas:extension:meritloop:2.0:User"
WORK = "work"

# What this service tolerates from provisioning clients: vendor attributes are dropped,
# and a PATCH remove with a value selects what to remove (as Entra ID sends it).
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
)


class DirectoryManager(ComplexAttribute):
    value: Annotated[str | None, Required.true, CaseExact.true] = None
    """The id of the manager's User resource."""

    ref: Annotated[Reference[User[Any]] | None, Mutability.read_only] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The URI of the manager's User resource."""

    display_name: Annotated[str | None, Mutability.read_only] = None
    """The manager's displayName."""


class DirectoryEnterpriseUser(Extension):
    __schema__ = URN(ENTERPRISE_USER)

    employee_number: str | None = None
    """Identifier assigned to a person, typically based on order of hire."""

    cost_center: str | None = None
    """The name of a cost center."""

    organization: str | None = None
    """The name of an organization."""

    division: str | None = None
    """The name of a division."""

    department: str | None = None
    """The name of a department."""

    manager: DirectoryManager | None = None
    """The person's manager: ``{"value": "<id>"}``."""


class MeritloopUser(Extension):
    __schema__ = URN(MERITLOOP_USER)

    hire_date: str | None = None
    """The first day of employment, as YYYY-MM-DD."""


ScimUser = User[DirectoryEnterpriseUser | MeritloopUser]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _work_address(addresses: list[Address] | None) -> Address | None:
    """The address whose locality is the location: a work (or untyped) one, primary first."""
    candidates = [address for address in addresses or [] if address.locality and (address.type or WORK) == WORK]
    candidates.sort(key=lambda address: (not address.primary, address.type != WORK))
    return candidates[0] if candidates else None


def _hire_date(value: str | None) -> date | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise MappingError(f"hireDate: {value!r} is not a date (YYYY-MM-DD)")


def person_to_user(person: Person, base_url: str, unset: frozenset[str] = frozenset()) -> ScimUser:
    location = f"{base_url}/Users/{person.id}"
    enterprise = DirectoryEnterpriseUser(
        employee_number=person.employee_number,
        cost_center=person.cost_center,
        organization=person.organization,
        division=person.division,
        department=person.department,
        manager=(
            DirectoryManager(
                value=str(person.manager_id),
                ref=f"{base_url}/Users/{person.manager_id}",
            )
            if person.manager_id
            else None
        ),
    )
    user = ScimUser(
        id=str(person.id),
        external_id=person.external_id,
        user_name=person.user_name,
        name=(
            Name(given_name=person.given_name, family_name=person.family_name)
            if person.given_name or person.family_name
            else None
        ),
        display_name=None if "displayName" in unset else person.display_name,
        title=person.title,
        locale=person.locale,
        timezone=person.timezone,
        active=person.active,
        emails=(
            None
            if "emails" in unset
            else [Email(value=row.value, type=row.type, primary=row.primary or None) for row in person.emails]
        ),
        addresses=[Address(type=WORK, locality=person.location, primary=True)] if person.location else None,
        meta=Meta(
            resource_type="User",
            created=person.created_at,
            last_modified=person.modified_at or person.created_at,
            location=location,
            version=etag(person),
        ),
    )
    user[DirectoryEnterpriseUser] = enterprise
    if person.hire_date is not None:
        user[MeritloopUser] = MeritloopUser(hire_date=person.hire_date.isoformat())
    return user


class MappingError(ValueError):
    """The User cannot become a directory person; the message says which attribute."""


def unset_attributes(user: ScimUser) -> set[str]:
    """The optional attributes the directory must fill in although the client left them unset."""
    unset = set()
    if not user.display_name:
        unset.add("displayName")
    if not any(email.value for email in user.emails or []):
        unset.add("emails")
    return unset


def user_to_fields(user: ScimUser, *, keep_hire_date: date | None = None, absent_active: bool = True) -> PersonFields:
    """The directory fields a User describes (everything it leaves out is empty).

    ``keep_hire_date``: the hire date when the User carries no Meritloop extension at all. A
    PUT passes the current one: identity providers send no hire date unless told to, and
    their replacements must not clear one an HRIS import set.
    ``absent_active``: what a User without ``active`` means. A new User is active; a PATCH
    that removes ``active`` leaves a person who is not (access ends rather than lingers).
    """
    entries = [
        EmailEntry(value=str(email.value), type=str(email.type) if email.type else None, primary=bool(email.primary))
        for email in user.emails or []
        if email.value
    ]
    primary = next((entry for entry in entries if entry.primary), None) or next(
        (entry for entry in entries if entry.type == "work"), entries[0] if entries else None
    )
    user_name = user.user_name or ""
    if primary is None:
        if "@" not in user_name:
            raise MappingError("emails: a person needs an e-mail address (or a userName that is one)")
        primary = EmailEntry(value=user_name, type="work", primary=True)
    name = user.name
    given = name.given_name if name else None
    family = name.family_name if name else None
    display = user.display_name or (name.formatted if name else None)
    display = display or " ".join(part for part in (given, family) if part) or user_name
    enterprise = user[DirectoryEnterpriseUser] or DirectoryEnterpriseUser()
    manager_id: uuid.UUID | None = None
    if enterprise.manager is not None and enterprise.manager.value:
        try:
            manager_id = uuid.UUID(enterprise.manager.value)
        except ValueError:
            raise MappingError(f"manager: {enterprise.manager.value!r} is not the id of a User") from None
    meritloop = user[MeritloopUser]
    hire_date = keep_hire_date if meritloop is None else _hire_date(meritloop.hire_date)
    work_address = _work_address(user.addresses)
    values: dict[str, Any] = {
        "user_name": user_name,
        "external_id": user.external_id,
        "email": str(primary.value),
        "emails": [entry.model_copy(update={"primary": entry.value == primary.value}) for entry in entries],
        "display_name": display,
        "given_name": given,
        "family_name": family,
        "title": user.title,
        "locale": user.locale,
        "timezone": user.timezone,
        "employee_number": enterprise.employee_number,
        "cost_center": enterprise.cost_center,
        "organization": enterprise.organization,
        "division": enterprise.division,
        "department": enterprise.department,
        "location": work_address.locality if work_address else None,
        "hire_date": hire_date,
        "manager_id": manager_id,
        "active": absent_active if user.active is None else user.active,
    }
    return PersonFields.model_validate(values)


# What /Schemas advertises: exactly the attributes (and sub-attributes) the directory stores.
# Everything else of RFC 7643's User (nickName, profileUrl, userType, preferredLanguage,
# phoneNumbers, ims, photos, entitlements, roles, x509Certificates, groups, password, the
# other parts of name and address, emails.display, manager.displayName) is accepted and
# ignored, as for any attribute a service provider does not define.
STORED_ATTRIBUTES: dict[str, dict[str, frozenset[str]]] = {
    CORE_USER: {
        "userName": frozenset(),
        "name": frozenset({"givenName", "familyName"}),
        "displayName": frozenset(),
        "title": frozenset(),
        "locale": frozenset(),
        "timezone": frozenset(),
        "active": frozenset(),
        "emails": frozenset({"value", "type", "primary"}),
        "addresses": frozenset({"type", "locality", "primary"}),
    },
    ENTERPRISE_USER: {
        "employeeNumber": frozenset(),
        "costCenter": frozenset(),
        "organization": frozenset(),
        "division": frozenset(),
        "department": frozenset(),
        "manager": frozenset({"value", "$ref"}),
    },
    MERITLOOP_USER: {"hireDate": frozenset()},
}


def stored_schema(document: dict[str, Any]) -> dict[str, Any]:
    """A schema document cut down to the attributes the directory stores."""
    stored = STORED_ATTRIBUTES[document["id"]]
    attributes = []
    for attribute in document.get("attributes", []):
        subs = stored.get(attribute["name"])
        if subs is None:
            continue
        attribute = dict(attribute)
        if "subAttributes" in attribute:
            attribute["subAttributes"] = [sub for sub in attribute["subAttributes"] if sub["name"] in subs]
        if document["id"] == CORE_USER and attribute["name"] == "addresses":
            # Only the work address's locality is kept (the person's location).
            attribute["subAttributes"] = [
                {**sub, "canonicalValues": [WORK]} if sub["name"] == "type" else sub
                for sub in attribute["subAttributes"]
            ]
        attributes.append(attribute)
    return {**document, "attributes": attributes}


def dump(resource: Any, context: Context = Context.RESOURCE_QUERY_RESPONSE) -> dict[str, Any]:
    body: dict[str, Any] = resource.model_dump(scim_ctx=context)
    return body
