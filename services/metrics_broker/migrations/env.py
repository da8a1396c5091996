"""Alembic environment (async): migrates the broker's schema `metrics_broker` in the database named by
its settings (`QAHUB_DATABASE_URL`). The version table lives in that schema too, so the broker's
migrations and qa_api's never see each other, even in one database."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import metrics_broker.kinds.models
import metrics_broker.points.models  # noqa: F401  (their tables join the metadata)
from metrics_broker.config import Settings
from metrics_broker.spool.models import SCHEMA, metadata
from qahub_shared.database import engine_target
from qahub_shared.startup import load_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def _url() -> str:
    if url := config.attributes.get("database_url"):
        return str(url)
    return load_settings(Settings, program="metrics_broker migrations").database_url


def _include(name: str | None, type_: str, *_: object) -> bool:
    # only our schema: qa_api's tables may share the database
    return type_ != "schema" or name == SCHEMA


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=_include,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection: Connection) -> None:
    # the version table is created in the schema before the first migration runs
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    connection.commit()
    _configure(connection=connection)
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
