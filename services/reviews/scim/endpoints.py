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
    InvalidValueException,
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
from starlette.routing import Match

from services.reviews.directory.repository import PersonRepository
from services.reviews.directory.schemas import PersonFields
from services.reviews.directory.service import PeopleService, etag, parse_etag
from services.reviews.models import Person
from services.reviews.scim.auth import scim_client
from services.reviews.scim.errors import ScimJSONResponse, ScimRoute, error_response
from services.reviews.scim.filters import filter_to_sql, sort_to_sql
from services.reviews.scim.schemas import (
    ENTERPRISE_USER,
    POLICY,
    WORK,
    DirectoryEnterpriseUser,
    MeritloopUser,
    ScimUser,
    dump,
    person_to_user,
    stored_schema,
    unset_attributes,
    user_to_fields,
)
from services.reviews.scim.state import ScimStates, not_deleted, unset_of
from shared.database import SessionDep
from shared.errors import Conflict
from shared.openapi import problems

MAX_COUNT = 500
DEFAULT_COUNT = 100
# Beyond any directory's size, and within SQLite's 64-bit OFFSET: a larger startIndex is simply
# past the last result (an empty page), never an overflow.
MAX_OFFSET = 2**62
# A SCIM resource nests four levels (User, extension, manager, value); more is not a User.
MAX_JSON_DEPTH = 32
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

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
    unset: frozenset[str] = frozenset(),
    status_code: int = 200,
    parameters: ResponseParameters[Any] | None = None,
) -> Response:
    user = person_to_user(person, _base_url(request), unset)
    context = Context.RESOURCE_CREATION_RESPONSE if status_code == 201 else Context.RESOURCE_QUERY_RESPONSE
    body = user.model_dump(scim_ctx=context, response_parameters=parameters)
    headers = {"ETag": etag(person)}
    if status_code == 201 and user.meta is not None and user.meta.location:
        headers["Location"] = user.meta.location
    return ScimJSONResponse(body, status_code=status_code, headers=headers)


def _depth(value: Any) -> int:
    """How deep arrays and objects nest, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth + 1) for child in children)
    return deepest


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except json.JSONDecodeError as exc:
        raise InvalidSyntaxException(detail=f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidSyntaxException(detail=f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    if _depth(body) > MAX_JSON_DEPTH:
        raise InvalidSyntaxException(detail=f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


def _person_id(user_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(user_id)
    except ValueError:
        raise NotFoundException(detail=f"No User with id {user_id}.") from None


async def _person(service: PeopleService, user_id: str) -> Person:
    """The person of a User SCIM serves: a deleted User is not found (RFC 7644 3.6)."""
    person = await service.people.get(_person_id(user_id))
    if person is None or await ScimStates(service.session).is_deleted(person.id):
        raise NotFoundException(detail=f"No User with id {user_id}.")
    return person


async def _unset(session: SessionDep, person: Person) -> frozenset[str]:
    return unset_of(person, await ScimStates(session).get(person.id))


async def _refuse_deleted_manager(states: ScimStates, fields: PersonFields, person: Person | None) -> None:
    """A new manager must be a User SCIM serves; a manager deleted since may stay as they are."""
    manager_id = fields.manager_id
    if manager_id is None or (person is not None and manager_id == person.manager_id):
        return
    if await states.is_deleted(manager_id):
        raise InvalidValueException(detail=f"manager: no User with id {manager_id}")


def _refuse_id_change(body: dict[str, Any], user_id: str) -> None:
    given = body.get("id")
    if given is not None and str(given) != user_id:
        raise MutabilityException(detail="id is read-only and cannot be changed")


@router.post("/Users", status_code=status.HTTP_201_CREATED, summary="Provision a person", responses=problems(400, 409))
async def create_user(request: Request, session: SessionDep) -> Response:
    body = await _body(request)
    with POLICY:
        user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    fields = user_to_fields(user)
    service, states = PeopleService(session), ScimStates(session)
    await _refuse_deleted_manager(states, fields, None)
    try:
        person = await service.create(fields)
    except Conflict:
        # A deleted User provisioned again (a rehire, an undone deletion) is the same person,
        # so their history stays theirs; any other clash is a clash.
        deleted = await states.deleted_person(fields.user_name)
        if deleted is None:
            raise
        person = await service.replace(deleted.id, fields)
    unset = unset_attributes(user)
    await states.written(person, unset)
    return _user_response(person, request, unset=frozenset(unset), status_code=201)


_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/Users/.search", methods=[m for m in _ANY_METHOD if m != "POST"], include_in_schema=False)
async def _search_other_methods(request: Request) -> Response:
    # Declared before ``/Users/{user_id}``, which would take ``.search`` for an id and answer 404:
    # RFC 7644 3.4.3 wants 405 for any method but POST on a ``.search`` endpoint.
    response = error_response(405, f"{request.method} is not allowed on {request.url.path}; POST a SearchRequest.")
    response.headers["Allow"] = "POST"
    return response


@router.get("/Users/{user_id}", summary="One provisioned person")
async def get_user(
    user_id: str,
    request: Request,
    session: SessionDep,
    attributes: Attributes = None,
    excluded_attributes: ExcludedAttributes = None,
) -> Response:
    person = await _person(PeopleService(session), user_id)
    unset = await _unset(session, person)
    return _user_response(person, request, unset=unset, parameters=_parameters(attributes, excluded_attributes))


@router.put("/Users/{user_id}", summary="Replace a person", responses=problems(400, 409))
async def replace_user(user_id: str, request: Request, session: SessionDep, if_match: IfMatch = None) -> Response:
    service = PeopleService(session)
    person = await _person(service, user_id)
    body = await _body(request)
    _refuse_id_change(body, user_id)
    with POLICY:
        user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    fields = user_to_fields(user, keep_hire_date=person.hire_date)
    await _refuse_deleted_manager(ScimStates(session), fields, person)
    person = await service.replace(person.id, fields, expected_version=parse_etag(if_match))
    unset = unset_attributes(user)
    await ScimStates(session).written(person, unset)
    return _user_response(person, request, unset=frozenset(unset))


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


@router.patch("/Users/{user_id}", summary="Change a person (add, replace, remove)", responses=problems(400, 409))
async def patch_user(user_id: str, request: Request, session: SessionDep, if_match: IfMatch = None) -> Response:
    service = PeopleService(session)
    person = await _person(service, user_id)
    expected = parse_etag(if_match)
    body = _tolerate_vendors(await _body(request))
    # What the client left unset stays unset, so a PATCH of one attribute brings back no other.
    user = person_to_user(person, _base_url(request), await _unset(session, person))
    if not user.addresses:
        # Entra ID and Okta set the city with add addresses[type eq "work"].locality, also for a
        # person without a work address yet: an empty one is there for the path to find.
        user.addresses = [Address(type=WORK)]
    with POLICY:
        patch = PatchOp[ScimUser].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        patch.patch(user)
    if user.id != str(person.id):
        raise MutabilityException(detail="id is read-only and cannot be changed")
    fields = user_to_fields(user, absent_active=False)
    await _refuse_deleted_manager(ScimStates(session), fields, person)
    person = await service.replace(person.id, fields, expected_version=expected)
    unset = unset_attributes(user)
    await ScimStates(session).written(person, unset)
    return _user_response(person, request, unset=frozenset(unset))


@router.delete(
    "/Users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Deprovision a person: deactivated in the directory, gone for SCIM",
)
async def delete_user(user_id: str, session: SessionDep, if_match: IfMatch = None) -> Response:
    service = PeopleService(session)
    person = await _person(service, user_id)
    await service.deactivate(person.id, expected_version=parse_etag(if_match))
    await ScimStates(session).deleted(person.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _search(
    request: Request,
    session: SessionDep,
    *,
    filter: str | None,
    start_index: int,
    count: int,
    parameters: ResponseParameters[Any] | None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> Response:
    start_index = max(start_index, 1)
    count = min(max(count, 0), MAX_COUNT)
    order_by = sort_to_sql(sort_by, sort_order)
    where = filter_to_sql(filter)
    where = not_deleted() if where is None else where & not_deleted()
    people, total = await PersonRepository.from_session(session).search(
        where, limit=count, offset=min(start_index - 1, MAX_OFFSET), order_by=order_by
    )
    states = await ScimStates(session).many(person.id for person in people)
    base = _base_url(request)
    response = ListResponse[ScimUser](
        total_results=total,
        start_index=start_index,
        items_per_page=len(people),
        resources=[person_to_user(person, base, unset_of(person, states.get(person.id))) for person in people],
    )
    body = response.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=parameters)
    body.setdefault("Resources", [])
    return ScimJSONResponse(body)


@router.get("/Users", summary="Search provisioned people")
async def list_users(
    request: Request,
    session: SessionDep,
    filter: Annotated[str | None, Query(description='e.g. userName eq "bjensen"')] = None,
    start_index: Annotated[int, Query(alias="startIndex", description="1-based index of the first result.")] = 1,
    count: Annotated[int, Query(description=f"Results per page (at most {MAX_COUNT}).")] = DEFAULT_COUNT,
    attributes: Attributes = None,
    excluded_attributes: ExcludedAttributes = None,
    sort_by: Annotated[
        str | None, Query(alias="sortBy", description="An attribute to sort by, e.g. name.familyName.")
    ] = None,
    sort_order: Annotated[
        str | None, Query(alias="sortOrder", description="ascending (the default) or descending.")
    ] = None,
) -> Response:
    parameters = _parameters(attributes, excluded_attributes)
    return await _search(
        request,
        session,
        filter=filter,
        start_index=start_index,
        count=count,
        parameters=parameters,
        sort_by=sort_by,
        sort_order=sort_order,
    )


def _attribute_list(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)
    raise InvalidValueException(detail=f"{name} must be a list of attribute names")


def _string(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidValueException(detail=f"{name} must be a string")
    return value


def _integer(request: dict[str, Any], name: str, default: int) -> int:
    value = request.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueException(detail=f"{name} must be an integer")
    return value


async def _post_search(request: Request, session: SessionDep) -> Response:
    """RFC 7644 3.4.3: the query of a GET as a SearchRequest body (filters stay out of URLs)."""
    body = await _body(request)
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST not in schemas:
        raise InvalidValueException(detail=f"schemas must be [{SEARCH_REQUEST!r}]")
    expression = body.get("filter")
    if expression is not None and not isinstance(expression, str):
        raise InvalidValueException(detail="filter must be a string")
    parameters = _parameters(_attribute_list(body, "attributes"), _attribute_list(body, "excludedAttributes"))
    return await _search(
        request,
        session,
        filter=expression,
        start_index=_integer(body, "startIndex", 1),
        count=_integer(body, "count", DEFAULT_COUNT),
        parameters=parameters,
        sort_by=_string(body, "sortBy"),
        sort_order=_string(body, "sortOrder"),
    )


@router.post("/Users/.search", summary="Search provisioned people (a SearchRequest body)", responses=problems(400))
async def search_users(request: Request, session: SessionDep) -> Response:
    return await _post_search(request, session)


@router.post("/.search", summary="Search every resource type (Users only here)", responses=problems(400))
async def search_all(request: Request, session: SessionDep) -> Response:
    return await _post_search(request, session)


def service_provider_config(base: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri="https://meritloop.dev/docs/directory",
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
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
        body = stored_schema(dump(model.to_schema()))
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


async def _no_endpoint(request: Request) -> Response:
    """Paths and methods SCIM does not serve answer SCIM errors too (RFC 7644 3.12)."""
    allowed: set[str] = set()
    for route in router.routes:
        if isinstance(route, ScimRoute) and route.endpoint is not _unknown:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                allowed |= route.methods or set()
    if allowed:
        response = error_response(405, f"{request.method} is not allowed on {request.url.path}.")
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    raise NotFoundException(detail=f"No SCIM endpoint at {request.url.path}.")


# Last of the router: matched only when no SCIM route matched path and method.
@router.api_route("", methods=_ANY_METHOD, include_in_schema=False)
@router.api_route("/{path:path}", methods=_ANY_METHOD, include_in_schema=False)
async def _unknown(request: Request) -> Response:
    return await _no_endpoint(request)
