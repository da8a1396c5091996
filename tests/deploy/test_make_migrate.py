"""`make migrate` as a user runs it: from the repository root, with the database named in the root's
`.env`, as `make run` and the services read it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg

from tests.deploy.test_local_run import _env, tree
from tests.servers import fresh_database

__all__ = ["tree"]  # the copy of the working tree, a fixture of this module too


async def _versions(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables"
            " WHERE table_name LIKE 'alembic_version%'"
        )
    finally:
        await connection.close()
    return {row["name"] for row in rows}


def test_make_migrate_migrates_the_database_the_root_dotenv_names(tree: Path, postgres_url: str) -> None:
    with fresh_database(postgres_url, "qahub_make_migrate") as url:
        (tree / ".env").write_text(f"QAHUB_DATABASE_URL={url}\n")
        try:
            done = subprocess.run(["make", "migrate"], cwd=tree, env=_env(), capture_output=True, text=True)
        finally:
            (tree / ".env").unlink()
        assert done.returncode == 0, done.stderr
        assert asyncio.run(_versions(url)) == {
            "public.alembic_version",
            "metrics_broker.alembic_version",
            "public.alembic_version_webhook_listener",
        }
