"""Alembic per service: each keeps its scripts in ``services/<name>/migrations``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shared.database import create_engine
from shared.settings import ServiceName

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: ServiceName, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(service: ServiceName, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: ServiceName, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(service, database_url), revision)


# Alembic is synchronous and env.py starts its own event loop: keep it off the caller's.
async def upgrade_async(service: ServiceName, database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, service, database_url, revision)


async def downgrade_async(service: ServiceName, database_url: str, revision: str) -> None:
    await asyncio.to_thread(downgrade, service, database_url, revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``."""
    url: str = context.config.attributes["database_url"]
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        if connection.dialect.name == "sqlite":
            # Batch migrations rebuild a table by dropping the old one; with foreign keys on,
            # that drop fires ON DELETE actions and would wipe references (every manager).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            # The pragma autobegan a transaction; alembic must open (and commit) its own.
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())
