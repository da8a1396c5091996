"""Configuration mistakes, as an operator meets them starting a service (`python -m <service>`) or its
migrations (`alembic upgrade head`): a value that is not allowed is one line naming the variable, the
value (never a secret) and what is allowed, and exit status 2, no traceback; a `QAHUB_` variable nothing
reads is a warning naming the variable meant, and the service starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_api.config import Settings as QaApiSettings
from tests.processes import READY_TIMEOUT_S, free_port, service_env, start, stop
from tests.qa_api.e2e.qa_api_process import running_qa_api
from tests.servers import ROOT, fresh_database, migrate

BAD_SETTINGS = 2


def run(argv: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def run_service(module: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", module], env=service_env(**settings), cwd=cwd)


@pytest.mark.parametrize(
    ("module", "variable", "value", "line"),
    [
        ("qa_api", "QAHUB_ENV", "prod", "qa_api: QAHUB_ENV='prod' is not allowed: dev or production"),
        (
            "qa_api",
            "QAHUB_LOG_LEVEL",
            "verbose",
            "qa_api: QAHUB_LOG_LEVEL='verbose' is not allowed: DEBUG, INFO, WARNING, ERROR or CRITICAL "
            "(any case)",
        ),
        (
            "qa_api",
            "QAHUB_QA_API_PORT",
            "abc",
            "qa_api: QAHUB_QA_API_PORT='abc' is not allowed: an integer from 1 to 65535",
        ),
        (
            "metrics_broker",
            "QAHUB_INFLUX_WRITE_TIMEOUT_SECONDS",
            "0",
            "metrics_broker: QAHUB_INFLUX_WRITE_TIMEOUT_SECONDS='0' is not allowed: a number greater than 0 "
            "and at most 300",
        ),
        (
            "metrics_broker",
            "QAHUB_INFLUX_DATABASES",
            "{churn",
            "metrics_broker: QAHUB_INFLUX_DATABASES='{churn' is not allowed: a JSON object",
        ),
        (
            "webhook_listener",
            "QAHUB_WEBHOOK_ALLOW_FILE_URLS",
            "maybe",
            "webhook_listener: QAHUB_WEBHOOK_ALLOW_FILE_URLS='maybe' is not allowed: true or false",
        ),
        (
            "webhook_listener",
            "QAHUB_FORWARDED_ALLOW_IPS",
            "proxy.internal",
            "webhook_listener: QAHUB_FORWARDED_ALLOW_IPS='proxy.internal' is not allowed: comma-separated IP "
            "addresses or networks (such as 10.0.0.0/8), or * for any ('proxy.internal' is neither)",
        ),
    ],
)
def test_a_value_not_allowed_is_one_line_naming_variable_value_and_what_is_allowed_then_exit_2(
    module: str, variable: str, value: str, line: str, tmp_path: Path
) -> None:
    started = run_service(module, tmp_path, **{variable: value})

    assert started.returncode == BAD_SETTINGS
    assert started.stderr.splitlines() == [line]
    assert started.stdout == ""


def test_each_problem_has_its_line_and_a_bad_value_in_dotenv_counts_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QAHUB_LOG_LEVEL=loud\n")

    started = run_service("qa_api", tmp_path, QAHUB_ENV="prod")

    assert started.returncode == BAD_SETTINGS
    assert sorted(started.stderr.splitlines()) == [
        "qa_api: QAHUB_ENV='prod' is not allowed: dev or production",
        "qa_api: QAHUB_LOG_LEVEL='loud' is not allowed: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)",
    ]


def test_production_refusing_a_development_default_says_which_variable_to_set(tmp_path: Path) -> None:
    started = run_service("metrics_broker", tmp_path, QAHUB_ENV="production")

    assert started.returncode == BAD_SETTINGS
    assert started.stderr.splitlines() == [
        "metrics_broker: QAHUB_ENV=production refuses the development database URL: set QAHUB_DATABASE_URL"
    ]


@pytest.mark.parametrize(
    "refused",
    [
        "mysql://qahub:hunter2@db.internal/qahub",
        "postgres:hunter2@localhost/qahub",  # no scheme
        "host=localhost user=postgres password=hunter2 dbname=qahub",  # libpq's keywords
        "mysql://u:hunter2 and more@h/db",  # a space in the password
    ],
)
def test_a_url_refused_is_never_shown_whatever_it_holds(tmp_path: Path, refused: str) -> None:
    started = run_service("qa_api", tmp_path, QAHUB_DATABASE_URL=refused)

    assert started.returncode == BAD_SETTINGS
    assert started.stderr.splitlines() == [
        "qa_api: QAHUB_DATABASE_URL=<hidden> is not allowed: must be a PostgreSQL URL "
        "(postgresql://user:password@host:port/db)"
    ]


def test_the_credentials_of_another_url_are_never_shown(tmp_path: Path) -> None:
    refused_api = run_service(
        "webhook_listener", tmp_path, QAHUB_API_URL="ftp://ci:s3cr3t-t0ken@qa.internal/"
    )

    assert refused_api.returncode == BAD_SETTINGS
    assert refused_api.stderr.splitlines() == [
        "webhook_listener: QAHUB_API_URL=<hidden> is not allowed: must be an http:// or https:// URL"
    ]


def test_a_misspelt_variable_is_named_with_the_one_meant_when_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("QAHUB_DATABSE_URL=postgresql://db.internal/qahub\n")

    started = run_service("qa_api", tmp_path, QAHUB_ENV="production")

    assert started.returncode == BAD_SETTINGS
    assert started.stderr.splitlines() == [
        "qa_api: QAHUB_ENV=production refuses the development database URL: set QAHUB_DATABASE_URL",
        "qa_api: unknown variable QAHUB_DATABSE_URL (in .env); did you mean QAHUB_DATABASE_URL?",
    ]


@pytest.mark.parametrize("service", ["qa_api", "metrics_broker", "webhook_listener"])
def test_the_migrations_explain_a_bad_value_as_the_service_does(service: str) -> None:
    migrating = run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env=service_env(QAHUB_DATABASE_POOL_SIZE="lots"),
        cwd=ROOT / "services" / service,
    )

    assert migrating.returncode == BAD_SETTINGS
    assert "Traceback" not in migrating.stderr
    assert migrating.stderr.splitlines()[-1] == (
        f"{service} migrations: QAHUB_DATABASE_POOL_SIZE='lots' is not allowed: an integer from 1 to 200"
    )


def test_a_log_level_is_accepted_in_any_case() -> None:
    assert QaApiSettings(_env_file=None, log_level="debug").log_level == "DEBUG"


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, prefix="qahub_startup") as url:
        migrate(url)
        yield url


def warnings_in(log: str) -> list[str]:
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [record["message"] for record in records if record["level"] == "warning"]


def test_a_misspelt_variable_in_dotenv_or_the_environment_is_a_warning_and_qa_api_starts(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "QAHUB_QA_API_PROT=6151\n# a setting of the listener's, not a mistake\nQAHUB_WEBHOOK_PORT=5152\n"
    )
    settings = {"QAHUB_REVOCATION_REFRESH_SECOND": "5", "QAHUB_TEST_DATABASE_URL": database_url}

    with running_qa_api(database_url, tmp_path, settings=settings) as server:
        warnings = [w for w in warnings_in(server.log()) if w.startswith("unknown variable")]

    assert sorted(warnings) == [
        "unknown variable QAHUB_QA_API_PROT (in .env); did you mean QAHUB_QA_API_PORT?",
        "unknown variable QAHUB_REVOCATION_REFRESH_SECOND (in the environment); did you mean "
        "QAHUB_REVOCATION_REFRESH_SECONDS?",
    ]


@pytest.mark.parametrize("module", ["metrics_broker", "webhook_listener"])
def test_the_other_services_warn_about_a_misspelt_variable_as_they_start(module: str, tmp_path: Path) -> None:
    # Their dependencies are unreachable here: the warning comes before any connection is tried.
    env = service_env(
        QAHUB_LOG_JSON="true",
        QAHUB_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        QAHUB_METRICS_BROKER_PORT=str(free_port()),
        QAHUB_WEBHOOK_PORT=str(free_port()),
        QAHUB_INFLUX_URLS="http://127.0.0.1:8086",
    )
    log = tmp_path / "service.log"
    process = start(module, env=env, workdir=tmp_path, log_path=log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "unknown variable" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(process)

    assert "unknown variable QAHUB_INFLUX_URLS (in the environment); did you mean QAHUB_INFLUX_URL?" in (
        warnings_in(log.read_text())
    )


def test_a_dotenv_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes("QAHUB_ADMIN_USERNAME=caf\u00e9\n".encode("latin-1"))

    started = run_service("qa_api", tmp_path)

    assert started.returncode == BAD_SETTINGS
    (line,) = started.stderr.splitlines()
    assert line.startswith("qa_api: cannot read .env: 'utf-8' codec can't decode byte 0xe9"), line
