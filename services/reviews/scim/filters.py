"""SCIM filters (parsed by scim2-models) and sort orders turned into SQL over the directory tables.

Only attributes the directory stores can be filtered or sorted on; any other is an
``invalidFilter`` (``invalidPath`` for ``sortBy``) error rather than a silent "matches nothing"
or an ignored order, so a provisioning client learns at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from scim2_models import InvalidFilterException, InvalidPathException, InvalidValueException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement, UnaryExpression, and_, func, not_, or_
from sqlalchemy.orm import InstrumentedAttribute

from services.reviews.directory.repository import any_email_matches
from services.reviews.models import Person, PersonEmail
from services.reviews.scim.schemas import CORE_USER, ENTERPRISE_USER, MERITLOOP_USER, POLICY, ScimUser

Column = InstrumentedAttribute[Any]

# (schema, attribute, sub-attribute) in lower case -> the column that holds it.
PERSON_ATTRIBUTES: dict[tuple[str, str, str | None], Column] = {
    (CORE_USER, "id", None): Person.id,
    (CORE_USER, "externalid", None): Person.external_id,
    (CORE_USER, "username", None): Person.user_name,
    (CORE_USER, "displayname", None): Person.display_name,
    (CORE_USER, "name", "givenname"): Person.given_name,
    (CORE_USER, "name", "familyname"): Person.family_name,
    (CORE_USER, "title", None): Person.title,
    (CORE_USER, "locale", None): Person.locale,
    (CORE_USER, "timezone", None): Person.timezone,
    # The location is the work address's locality; the directory keeps no other address.
    (CORE_USER, "addresses", "locality"): Person.location,
    (CORE_USER, "active", None): Person.active,
    (CORE_USER, "meta", "created"): Person.created_at,
    (CORE_USER, "meta", "lastmodified"): Person.modified_at,
    (ENTERPRISE_USER, "employeenumber", None): Person.employee_number,
    (ENTERPRISE_USER, "costcenter", None): Person.cost_center,
    (ENTERPRISE_USER, "organization", None): Person.organization,
    (ENTERPRISE_USER, "division", None): Person.division,
    (ENTERPRISE_USER, "department", None): Person.department,
    (ENTERPRISE_USER, "manager", "value"): Person.manager_id,
    (ENTERPRISE_USER, "manager", None): Person.manager_id,
    (MERITLOOP_USER, "hiredate", None): Person.hire_date,
}
SCHEMAS = {name.lower(): name for name in (CORE_USER, ENTERPRISE_USER, MERITLOOP_USER)}
EMAIL_ATTRIBUTES: dict[str, Column] = {
    "value": PersonEmail.value_key,
    "type": PersonEmail.type,
    "primary": PersonEmail.primary,
}
# userName, emails and the like compare ignoring case (caseExact false); ids and externalId do not.
CASE_EXACT = {Person.id, Person.external_id, Person.manager_id}


def _key(path: AttrPath) -> tuple[str, str, str | None]:
    schema = SCHEMAS.get((path.uri or CORE_USER).lower())
    if schema is None:
        raise InvalidFilterException(detail=f"unknown schema {path.uri!r}")
    return schema, path.attr.lower(), path.sub_attr.lower() if path.sub_attr else None


def _compare(column: Any, op: CompareOperator, value: Any, *, case_exact: bool) -> ColumnElement[bool]:
    if value is None:
        if op is CompareOperator.eq:
            return column.is_(None)  # type: ignore[no-any-return]
        if op is CompareOperator.ne:
            return column.is_not(None)  # type: ignore[no-any-return]
        raise InvalidFilterException(detail=f"{op.value} cannot compare with null")
    if isinstance(value, str) and not case_exact:
        column, value = func.lower(column), value.lower()
    operations: dict[CompareOperator, Callable[[], ColumnElement[bool]]] = {
        CompareOperator.eq: lambda: column == value,
        CompareOperator.ne: lambda: or_(column != value, column.is_(None)),
        CompareOperator.co: lambda: column.contains(value, autoescape=True),
        CompareOperator.sw: lambda: column.startswith(value, autoescape=True),
        CompareOperator.ew: lambda: column.endswith(value, autoescape=True),
        CompareOperator.gt: lambda: column > value,
        CompareOperator.ge: lambda: column >= value,
        CompareOperator.lt: lambda: column < value,
        CompareOperator.le: lambda: column <= value,
    }
    return operations[op]()


def _typed(column: Column, value: Any, attribute: str) -> Any:
    """The comparison value as the column's Python type (ids, booleans, timestamps)."""
    if value is None:
        return None
    if column in (Person.id, Person.manager_id):
        try:
            return uuid.UUID(str(value))
        except ValueError:
            # No person has an id that is not a UUID: compare with one that matches nothing.
            return uuid.UUID(int=0)
    if column in (Person.active, PersonEmail.primary):
        if not isinstance(value, bool):
            raise InvalidFilterException(detail=f"{attribute} compares with true or false")
        return value
    if column in (Person.created_at, Person.modified_at):
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidFilterException(detail=f"{attribute} compares with a dateTime") from None
    if column is Person.hire_date:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise InvalidFilterException(detail=f"{attribute} compares with a date (YYYY-MM-DD)") from None
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


class _SqlVisitor(FilterVisitor[ColumnElement[bool]]):
    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op is LogicalOperator.and_ else or_(*terms)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        schema, attr, sub = _key(node.attr_path)
        if schema == CORE_USER and attr == "emails":
            column = EMAIL_ATTRIBUTES.get(sub or "value")
            if column is None:
                raise InvalidFilterException(detail=f"emails.{sub} cannot be filtered on")
            return any_email_matches(column.is_not(None))
        if schema == CORE_USER and attr == "name" and sub is None:
            return or_(Person.given_name.is_not(None), Person.family_name.is_not(None))
        column = self._column(node.attr_path, schema, attr, sub)
        if column.type.python_type is str:
            return and_(column.is_not(None), column != "")
        return column.is_not(None)

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        schema, attr, sub = _key(node.attr_path)
        if schema == CORE_USER and attr == "emails":
            return any_email_matches(self._email_comparison(sub or "value", node.op, node.value))
        column = self._column(node.attr_path, schema, attr, sub)
        value = _typed(column, node.value, str(node.attr_path))
        if column in (Person.active,) and node.op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilterException(detail=f"{node.attr_path} supports eq and ne only")
        if column is Person.hire_date and node.op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
            raise InvalidFilterException(detail=f"{node.attr_path} supports eq, ne, gt, ge, lt and le")
        return _compare(column, node.op, value, case_exact=column in CASE_EXACT)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        schema, attr, _sub = _key(node.attr_path)
        if schema != CORE_USER or attr != "emails":
            raise InvalidFilterException(detail=f"{node.attr_path}[...] is not supported; emails[...] is")
        return any_email_matches(_EmailVisitor().visit(node.val_filter))

    def _email_comparison(self, sub: str, op: CompareOperator, value: Any) -> ColumnElement[bool]:
        column = EMAIL_ATTRIBUTES.get(sub)
        if column is None:
            raise InvalidFilterException(detail=f"emails.{sub} cannot be filtered on")
        if column is PersonEmail.primary:
            if not isinstance(value, bool):
                raise InvalidFilterException(detail="emails.primary compares with true or false")
            return column.is_(value) if op is CompareOperator.eq else column.is_not(value)
        if column is PersonEmail.value_key and isinstance(value, str):
            # value_key is already lower case, so it stays usable by its index.
            return _compare(column, op, value.lower(), case_exact=True)
        return _compare(column, op, value, case_exact=False)

    def _column(self, path: AttrPath, schema: str, attr: str, sub: str | None) -> Column:
        column = PERSON_ATTRIBUTES.get((schema, attr, sub))
        if column is None:
            raise InvalidFilterException(detail=f"{path} cannot be filtered on")
        return column


class _EmailVisitor(_SqlVisitor):
    """Inside ``emails[...]``: attributes name sub-attributes of an address."""

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        return self._email_comparison(node.attr_path.attr.lower(), node.op, node.value)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        column = EMAIL_ATTRIBUTES.get(node.attr_path.attr.lower())
        if column is None:
            raise InvalidFilterException(detail=f"emails.{node.attr_path.attr} cannot be filtered on")
        return column.is_not(None)


# A filter's size is bounded before it is parsed or becomes SQL: the parser and SQLite
# (an expression tree at most 1,000 deep) recurse, and a provisioning client never needs more.
MAX_FILTER_LENGTH = 4096
MAX_FILTER_NESTING = 10
MAX_FILTER_TERMS = 100


def _nesting(expression: str) -> int:
    """How deep parentheses and brackets nest, outside quoted strings."""
    depth = deepest = 0
    quoted = escaped = False
    for char in expression:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


def _terms(node: Any) -> int:
    """Comparisons and presence tests in a parsed filter, counted without recursion."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        if isinstance(current, LogicalExpr):
            stack.extend(current.terms)
        elif isinstance(current, Not):
            stack.append(current.expr)
        elif isinstance(current, ValuePath):
            stack.append(current.val_filter)
        else:
            count += 1
    return count


def _check_size(expression: str) -> None:
    if len(expression) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if _nesting(expression) > MAX_FILTER_NESTING:
        raise InvalidFilterException(detail=f"the filter nests deeper than {MAX_FILTER_NESTING} levels")


SORT_ORDERS = ("ascending", "descending")


def sort_to_sql(sort_by: str | None, sort_order: str | None) -> list[UnaryExpression[Any]]:
    """RFC 7644 3.4.2.3: the ORDER BY of ``sortBy`` (a single-valued attribute path) and ``sortOrder``.

    Strings sort ignoring case, as they compare in filters; people without a value come last in
    either order. Nothing to sort by: no order here (the repository's stable order stands).
    """
    order = (sort_order or "ascending").lower()
    if order not in SORT_ORDERS:
        raise InvalidValueException(detail=f"sortOrder must be one of {', '.join(SORT_ORDERS)}")
    if sort_by is None or not sort_by.strip():
        return []
    column = _sort_column(sort_by.strip())
    key: Any = column if column in CASE_EXACT or _type_of(column) is not str else func.lower(column)
    ordered = key.asc() if order == "ascending" else key.desc()
    return [ordered.nulls_last()]


def _sort_column(sort_by: str) -> Column:
    schema, _, path = sort_by.rpartition(":") if sort_by.lower().startswith("urn:") else ("", "", sort_by)
    schema_name = SCHEMAS.get(schema.lower()) if schema else CORE_USER
    attr, _, sub = path.lower().partition(".")
    column = None if schema_name is None else PERSON_ATTRIBUTES.get((schema_name, attr, sub or None))
    if column is None:
        raise InvalidPathException(detail=f"{sort_by} cannot be sorted on")
    return column


def _type_of(column: Column) -> type:
    try:
        found: type = column.type.python_type
    except NotImplementedError:
        return object
    return found


def filter_to_sql(expression: str | None) -> ColumnElement[bool] | None:
    """The WHERE clause of a SCIM filter; raises InvalidFilterException for a bad one."""
    if expression is None or not expression.strip():
        return None
    _check_size(expression)
    try:
        with POLICY:
            parsed = ScimFilter[ScimUser](expression)
    except RecursionError:
        raise InvalidFilterException(detail="the filter is too complex") from None
    if _terms(parsed.ast) > MAX_FILTER_TERMS:
        raise InvalidFilterException(detail=f"the filter has more than {MAX_FILTER_TERMS} comparisons")
    try:
        return _SqlVisitor().visit(parsed.ast)
    except (TypeError, NotImplementedError) as exc:
        raise InvalidFilterException(detail=f"unsupported filter: {exc}") from None
