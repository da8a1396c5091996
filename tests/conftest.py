"""Session-wide real servers (one PostgreSQL server for the whole run), and a run that the developer's
own configuration cannot change.

The services read `QAHUB_*` variables and a `.env` file of their working directory. A developer's shell
or `.env` (say `QAHUB_WEBHOOK_ALLOW_FILE_URLS=true`, which the docs suggest for local repositories) must
not change what is under test, so the suite drops every `QAHUB_*` variable but its own `QAHUB_TEST_*`, and
runs in an empty working directory of its own, where no `.env` is found. Tests name every path they use
from `tests.servers.ROOT`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import postgres_server

_TESTS_OWN_PREFIX = "QAHUB_TEST_"


def pytest_configure(config: pytest.Config) -> None:
    for name in [name for name in os.environ if name.startswith("QAHUB_")]:
        if not name.startswith(_TESTS_OWN_PREFIX):
            del os.environ[name]
    workdir = tempfile.mkdtemp(prefix="qahub-tests-cwd-")
    config.add_cleanup(lambda: shutil.rmtree(workdir, ignore_errors=True))
    original = Path.cwd()
    config.add_cleanup(lambda: os.chdir(original))
    os.chdir(workdir)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url
