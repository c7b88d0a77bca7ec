"""``/scim/v2``: Users, and the discovery endpoints, for Okta, Entra ID, Workday and other IdPs/HRIS.

A protocol adapter: it parses SCIM, maps to directory fields and calls ``PeopleService``,
the same layer as ``/people``, so every rule lives once.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from scim2_models import (
    Address,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    InvalidSyntaxException,
    ListResponse,
    MutabilityException,
    NotFoundException,
    Patch,
    PatchOp,
    ResourceType,
    ResponseParameters,
    ServiceProviderConfig,
    Sort,
)

from services.reviews.directory.repository import PersonRepository
from services.reviews.directory.service import PeopleService, etag, parse_etag
from services.reviews.models import Person
from services.reviews.scim.auth import scim_client
from services.reviews.scim.errors import ScimJSONResponse, ScimRoute
from services.reviews.scim.filters import filter_to_sql
from services.reviews.scim.schemas import (
    ENTERPRISE_USER,
    POLICY,
    WORK,
    DirectoryEnterpriseUser,
    MeritloopUser,
    ScimUser,
    dump,
    person_to_user,
    user_to_fields,
)
from shared.database import SessionDep

MAX_COUNT = 500
DEFAULT_COUNT = 100

router = APIRouter(prefix="/scim/v2", tags=["scim"], route_class=ScimRoute, dependencies=[Depends(scim_client)])

IfMatch = Annotated[str | None, Header(alias="If-Match", description='ETag of the version to change, W/"<n>".')]
Attributes = Annotated[str | None, Query(description="Comma-separated attributes to return.")]
ExcludedAttributes = Annotated[
    str | None, Query(alias="excludedAttributes", description="Comma-separated attributes to leave out.")
]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + router.prefix


def _parameters(attributes: str | None, excluded: str | None) -> ResponseParameters[Any] | None:
    if not attributes and not excluded:
        return None
    with POLICY:
        return ResponseParameters[ScimUser].model_validate({"attributes": attributes, "excludedAttributes": excluded})


def _user_response(
    person: Person,
    request: Request,
    *,
    status_code: int = 200,
    parameters: ResponseParameters[Any] | None = None,
) -> Response:
    user = person_to_user(person, _base_url(request))
    context = Context.RESOURCE_CREATION_RESPONSE if status_code == 201 else Context.RESOURCE_QUERY_RESPONSE
    body = user.model_dump(scim_ctx=context, response_parameters=parameters)
    headers = {"ETag": etag(person)}
    if status_code == 201 and user.meta is not None and user.meta.location:
        headers["Location"] = user.meta.location
    return ScimJSONResponse(body, status_code=status_code, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except json.JSONDecodeError as exc:
        raise InvalidSyntaxException(detail=f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    return body


def _person_id(user_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(user_id)
    except ValueError:
        raise NotFoundException(detail=f"No User with id {user_id}.") from None


async def _person(service: PeopleService, user_id: str) -> Person:
    person = await service.people.get(_person_id(user_id))
    if person is None:
        raise NotFoundException(detail=f"No User with id {user_id}.")
    return person


def _refuse_id_change(body: dict[str, Any], user_id: str) -> None:
    given = body.get("id")
    if given is not None and str(given) != user_id:
        raise MutabilityException(detail="id is read-only and cannot be changed")


@router.post("/Users", status_code=status.HTTP_201_CREATED, summary="Provision a person")
async def create_user(request: Request, session: SessionDep) -> Response:
    body = await _body(request)
    with POLICY:
        user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    person = await PeopleService(session).create(user_to_fields(user))
    return _user_response(person, request, status_code=201)


@router.get("/Users/{user_id}", summary="One provisioned person")
async def get_user(
    user_id: str,
    request: Request,
    session: SessionDep,
    attributes: Attributes = None,
    excluded_attributes: ExcludedAttributes = None,
) -> Response:
    person = await _person(PeopleService(session), user_id)
    return _user_response(person, request, parameters=_parameters(attributes, excluded_attributes))


@router.put("/Users/{user_id}", summary="Replace a person")
async def replace_user(user_id: str, request: Request, session: SessionDep, if_match: IfMatch = None) -> Response:
    service = PeopleService(session)
    person = await _person(service, user_id)
    body = await _body(request)
    _refuse_id_change(body, user_id)
    with POLICY:
        user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    fields = user_to_fields(user, keep_hire_date=person.hire_date)
    person = await service.replace(person.id, fields, expected_version=parse_etag(if_match))
    return _user_response(person, request)


def _tolerate_vendors(body: dict[str, Any]) -> dict[str, Any]:
    """Entra ID sends the manager as a bare id: ``"value": "<id>"`` for the manager path."""
    operations = body.get("Operations") or body.get("operations")
    if not isinstance(operations, list):
        return body
    for operation in operations:
        if not isinstance(operation, dict):
            continue
        path = str(operation.get("path") or "")
        if path.lower().endswith(f"{ENTERPRISE_USER.lower()}:manager") and isinstance(operation.get("value"), str):
            operation["value"] = {"value": operation["value"]} if operation["value"] else None
    return body


@router.patch("/Users/{user_id}", summary="Change a person (add, replace, remove)")
async def patch_user(user_id: str, request: Request, session: SessionDep, if_match: IfMatch = None) -> Response:
    service = PeopleService(session)
    person = await _person(service, user_id)
    expected = parse_etag(if_match)
    body = _tolerate_vendors(await _body(request))
    user = person_to_user(person, _base_url(request))
    if not user.addresses:
        # Entra ID and Okta set the city with add addresses[type eq "work"].locality, also for a
        # person without a work address yet: an empty one is there for the path to find.
        user.addresses = [Address(type=WORK)]
    with POLICY:
        patch = PatchOp[ScimUser].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        patch.patch(user)
    if user.id != str(person.id):
        raise MutabilityException(detail="id is read-only and cannot be changed")
    person = await service.replace(person.id, user_to_fields(user), expected_version=expected)
    return _user_response(person, request)


@router.delete("/Users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Deprovision (deactivate) a person")
async def delete_user(user_id: str, session: SessionDep, if_match: IfMatch = None) -> Response:
    service = PeopleService(session)
    person = await _person(service, user_id)
    await service.deactivate(person.id, expected_version=parse_etag(if_match))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/Users", summary="Search provisioned people")
async def list_users(
    request: Request,
    session: SessionDep,
    filter: Annotated[str | None, Query(description='e.g. userName eq "bjensen"')] = None,
    start_index: Annotated[int, Query(alias="startIndex", description="1-based index of the first result.")] = 1,
    count: Annotated[int, Query(description=f"Results per page (at most {MAX_COUNT}).")] = DEFAULT_COUNT,
    attributes: Attributes = None,
    excluded_attributes: ExcludedAttributes = None,
) -> Response:
    start_index = max(start_index, 1)
    count = min(max(count, 0), MAX_COUNT)
    where = filter_to_sql(filter)
    people, total = await PersonRepository.from_session(session).search(where, limit=count, offset=start_index - 1)
    base = _base_url(request)
    response = ListResponse[ScimUser](
        total_results=total,
        start_index=start_index,
        items_per_page=len(people),
        resources=[person_to_user(person, base) for person in people],
    )
    body = response.model_dump(
        scim_ctx=Context.SEARCH_RESPONSE, response_parameters=_parameters(attributes, excluded_attributes)
    )
    body.setdefault("Resources", [])
    return ScimJSONResponse(body)


def service_provider_config(base: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri="https://meritloop.dev/docs/directory",
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="The provisioning client's token (MERITLOOP_SCIM_TOKEN) as 'Authorization: Bearer'.",
                primary=True,
            )
        ],
    )


@router.get("/ServiceProviderConfig", summary="What this SCIM service supports")
async def get_service_provider_config(request: Request) -> Response:
    config = service_provider_config(_base_url(request))
    body = dump(config)
    body["meta"] = {"resourceType": "ServiceProviderConfig", "location": f"{_base_url(request)}/ServiceProviderConfig"}
    return ScimJSONResponse(body)


def _resource_type(base: str) -> dict[str, Any]:
    body = dump(ResourceType.from_resource(ScimUser))
    body["meta"] = {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}
    return body


def _schemas(base: str) -> list[dict[str, Any]]:
    documents = []
    for model, name, description in (
        (ScimUser, "User", "User Account"),
        (DirectoryEnterpriseUser, "EnterpriseUser", "Enterprise User"),
        (MeritloopUser, "MeritloopUser", "Meritloop User: attributes SCIM has no standard name for"),
    ):
        body = dump(model.to_schema())
        body["name"], body["description"] = name, description
        body["meta"] = {"resourceType": "Schema", "location": f"{base}/Schemas/{body['id']}"}
        documents.append(body)
    return documents


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


@router.get("/ResourceTypes", summary="The resource types served (User)")
async def list_resource_types(request: Request) -> Response:
    return ScimJSONResponse(_list([_resource_type(_base_url(request))]))


@router.get("/ResourceTypes/{name}", summary="One resource type")
async def get_resource_type(name: str, request: Request) -> Response:
    if name != "User":
        raise NotFoundException(detail=f"No resource type {name}.")
    return ScimJSONResponse(_resource_type(_base_url(request)))


@router.get("/Schemas", summary="The schemas of the served resources")
async def list_schemas(request: Request) -> Response:
    return ScimJSONResponse(_list(_schemas(_base_url(request))))


@router.get("/Schemas/{schema_id}", summary="One schema")
async def get_schema(schema_id: str, request: Request) -> Response:
    for document in _schemas(_base_url(request)):
        if document["id"] == schema_id:
            return ScimJSONResponse(document)
    raise NotFoundException(detail=f"No schema {schema_id}.")
