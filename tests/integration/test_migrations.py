"""Each service's migrations build exactly the schema its models describe, and undo cleanly."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, String, Uuid, bindparam, column, inspect, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from shared.catalogue import ENTRY_CHANGED, CatalogueEntryChanged, CatalogueKind, entry_event_id
from shared.database import UTCDateTime, create_engine, utcnow
from shared.events import CloudEvent
from shared.migrations import downgrade_async, upgrade_async
from shared.settings import SERVICES, ServiceName

pytestmark = pytest.mark.database


def _metadata(service: ServiceName) -> MetaData:
    metadata: MetaData = importlib.import_module(f"services.{service}.models").Base.metadata
    return metadata


@pytest.mark.parametrize("service", SERVICES)
# SQLite cannot reflect an index on an expression (lower(name)); PostgreSQL compares them.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_migrations_match_the_models(service: ServiceName, database_urls: dict[ServiceName, str]) -> None:
    url = database_urls[service]
    await upgrade_async(service, url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def diff(sync_connection: Connection) -> list[object]:
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return list(compare_metadata(context, _metadata(service)))

            assert await connection.run_sync(diff) == [], "run alembic revision --autogenerate"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_downgrade_to_nothing(service: ServiceName, database_urls: dict[ServiceName, str]) -> None:
    url = database_urls[service]
    await upgrade_async(service, url)
    await downgrade_async(service, url, "base")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(tables) <= {"alembic_version"}
    finally:
        await engine.dispose()


async def test_upgrading_keeps_the_hierarchy(database_urls: dict[ServiceName, str]) -> None:
    """Table rebuilds during an upgrade must not fire ON DELETE actions on existing rows."""
    url = database_urls["reviews"]
    await upgrade_async("reviews", url, "0001")
    boss, report = uuid.uuid4(), uuid.uuid4()
    insert = text(
        "INSERT INTO people (id, email, display_name, manager_id, active, version, created_at)"
        " VALUES (:id, :email, :email, :manager, :active, 1, :now)"
    ).bindparams(
        bindparam("id", type_=Uuid()), bindparam("manager", type_=Uuid()), bindparam("now", type_=UTCDateTime())
    )
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for person_id, manager_id, email in ((boss, None, "boss@x.io"), (report, boss, "rep@x.io")):
                values = {"id": person_id, "email": email, "manager": manager_id, "active": True, "now": utcnow()}
                await connection.execute(insert, values)
        await upgrade_async("reviews", url)
        query = text("SELECT email, manager_id FROM people ORDER BY email").columns(email=String(), manager_id=Uuid())
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        assert [tuple(row) for row in rows] == [("boss@x.io", None), ("rep@x.io", boss)]
    finally:
        await engine.dispose()


async def test_location_and_hire_date_keep_existing_people(database_urls: dict[ServiceName, str]) -> None:
    """0005 adds both columns, empty, to people already there; its downgrade keeps them too."""
    url = database_urls["reviews"]
    await upgrade_async("reviews", url, "0004")
    boss, report = uuid.uuid4(), uuid.uuid4()
    insert = text(
        "INSERT INTO people (id, user_name, email, display_name, manager_id, path, active, version, created_at)"
        " VALUES (:id, :email, :email, :email, :manager, :path, true, 1, :now)"
    ).bindparams(
        bindparam("id", type_=Uuid()), bindparam("manager", type_=Uuid()), bindparam("now", type_=UTCDateTime())
    )
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for person_id, manager_id, path, email in (
                (boss, None, boss.hex, "boss@x.io"),
                (report, boss, boss.hex + report.hex, "rep@x.io"),
            ):
                values = {"id": person_id, "email": email, "manager": manager_id, "path": path, "now": utcnow()}
                await connection.execute(insert, values)
        await upgrade_async("reviews", url, "0005")
        query = text("SELECT email, manager_id, location, hire_date FROM people ORDER BY email").columns(
            email=String(), manager_id=Uuid()
        )
        async with engine.connect() as connection:
            rows = [tuple(row) for row in (await connection.execute(query)).all()]
        assert rows == [("boss@x.io", None, None, None), ("rep@x.io", boss, None, None)]
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE people SET location = 'Berlin', hire_date = '2021-03-15'"))
        await downgrade_async("reviews", url, "0004")
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("people")})
            kept = text("SELECT email, manager_id FROM people ORDER BY email").columns(
                email=String(), manager_id=Uuid()
            )
            rows = [tuple(row) for row in (await connection.execute(kept)).all()]
        assert not {"location", "hire_date"} & columns
        assert rows == [("boss@x.io", None), ("rep@x.io", boss)]
    finally:
        await engine.dispose()


async def test_names_differing_only_in_case_are_numbered(database_urls: dict[ServiceName, str]) -> None:
    """Feedback's 0020 makes HR's list names unique in any case: the oldest keeps its name, later ones are numbered."""
    url = database_urls["feedback"]
    await upgrade_async("feedback", url, "0019")
    insert = text(
        "INSERT INTO competencies (id, name, archived, created_at) VALUES (:id, :name, false, :at)"
    ).bindparams(bindparam("id", type_=Uuid()), bindparam("at", type_=UTCDateTime()))
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            start = utcnow()
            names = ["Craft", "craft", "CRAFT", "Craft (2)", "Clarity"]
            for minutes, name in enumerate(names):
                values = {"id": uuid.uuid4(), "name": name, "at": start + timedelta(minutes=minutes)}
                await connection.execute(insert, values)
        await upgrade_async("feedback", url, "0020")
        query = text("SELECT name FROM competencies ORDER BY created_at").columns(name=String())
        async with engine.connect() as connection:
            stored = list((await connection.execute(query)).scalars())
        # "craft" would be "craft (2)", which "Craft (2)" holds in another case: it is the third.
        assert stored == ["Craft", "craft (3)", "CRAFT (4)", "Craft (2)", "Clarity"]
        async with engine.begin() as connection:
            with pytest.raises(IntegrityError):
                await connection.execute(insert, {"id": uuid.uuid4(), "name": "clarity", "at": utcnow()})
        await downgrade_async("feedback", url, "0019")
    finally:
        await engine.dispose()


async def test_entries_stored_before_revisions_are_announced_once(database_urls: dict[ServiceName, str]) -> None:
    """Feedback's 0021: every company value and competency already stored is at revision 1 and
    has its ``changed`` event in the outbox, as the service would have written it."""
    url = database_urls["feedback"]
    await upgrade_async("feedback", url, "0020")
    entries = {"competencies": uuid.uuid4(), "company_values": uuid.uuid4()}
    engine = create_engine(url)
    try:
        tables = {
            name: sql_table(
                name,
                column("id", Uuid()),
                column("name", String()),
                column("archived"),
                column("created_at", UTCDateTime()),
                column("revision"),
            )
            for name in entries
        }
        async with engine.begin() as connection:
            for name, entry_id in entries.items():
                row = {"id": entry_id, "name": f"Old {name}", "archived": True, "created_at": utcnow()}
                await connection.execute(tables[name].insert().values(row))
        await upgrade_async("feedback", url, "0021")
        query = text("SELECT id, subject, payload FROM event_outbox ORDER BY subject").columns(id=Uuid())
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
            revisions = [(await connection.execute(select(tables[name].c.revision))).scalar_one() for name in entries]
        assert revisions == [1, 1]
        expected = [
            (CatalogueKind.company_value, entries["company_values"], "Old company_values"),
            (CatalogueKind.competency, entries["competencies"], "Old competencies"),
        ]
        for (event_id, subject, payload), (kind, entry_id, name) in zip(rows, expected, strict=True):
            event = CloudEvent.model_validate_json(payload)
            assert (subject, event.type, event.source) == (
                ENTRY_CHANGED[kind],
                ENTRY_CHANGED[kind],
                "/meritloop/feedback",
            )
            assert event_id == event.id == entry_event_id(kind, entry_id, 1)
            changed = CatalogueEntryChanged.model_validate(event.data)
            assert changed == CatalogueEntryChanged(id=entry_id, name=name, archived=True, revision=1)
        async with engine.begin() as connection:  # the lower(name) index of 0020 is still there
            row = {"id": uuid.uuid4(), "name": "OLD COMPETENCIES", "archived": False, "created_at": utcnow()}
            with pytest.raises(IntegrityError):
                await connection.execute(tables["competencies"].insert().values(row))
        await downgrade_async("feedback", url, "0020")
    finally:
        await engine.dispose()
