"""Alembic environment (async): migrates the listener's tables in the database its settings name.

The listener's history has its own version table (`alembic_version_webhook_listener`), so it can share a
database with qa_api's.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from qahub_shared.database import engine_target
from qahub_shared.startup import load_settings
from webhook_listener.config import Settings
from webhook_listener.db import metadata

VERSION_TABLE = "alembic_version_webhook_listener"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def _url() -> str:
    if url := config.attributes.get("database_url"):
        return str(url)
    return load_settings(Settings, program="webhook_listener migrations").listener_database_url


def _include(name: str | None, type_: str, *_: object) -> bool:
    # only our own tables: qa_api's may live in the same database
    return type_ != "table" or name in metadata.tables


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        version_table=VERSION_TABLE,
        include_name=_include,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    target, connect_args = engine_target(_url())
    engine = create_async_engine(target, connect_args=connect_args)
    async with engine.connect() as connection:
        await connection.run_sync(_migrate)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
