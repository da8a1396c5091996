"""Alembic environment (async): migrates the database named by qa_api's settings."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from qa_api import models  # noqa: F401  (registers the tables)
from qa_api.config import Settings
from qa_api.db import metadata
from qahub_shared.database import engine_target
from qahub_shared.startup import load_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def _url() -> str:
    if url := config.attributes.get("database_url"):
        return str(url)
    return load_settings(Settings, program="qa_api migrations").database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
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
