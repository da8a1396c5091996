"""The broker's migrations create exactly the tables its code uses, in its own schema, beside qa_api's
tables in one database, without either alembic seeing the other's tables."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.servers import ROOT


@pytest.mark.parametrize("service", ["metrics_broker", "qa_api"])
def test_each_services_migrations_match_its_code_in_the_shared_database(
    database_url: str, service: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=ROOT / "services" / service,
        env={"QAHUB_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr
