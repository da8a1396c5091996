"""The catalog of QA Hub's `QAHUB_` variables is the whole deployment's: every setting of every service,
README.md's configuration tables, and every name the scripts, Compose and the CLI use."""

from __future__ import annotations

import re

import pytest

from metrics_broker.config import Settings as BrokerSettings
from qa_api.config import Settings as QaApiSettings
from qahub_shared.variables import KNOWN_VARIABLES, closest_known, unknown_variables
from tests.servers import ROOT
from webhook_listener.config import Settings as ListenerSettings

_NAME = re.compile(r"QAHUB_[A-Z0-9_]*[A-Z0-9](?:_?\*)?")


@pytest.mark.parametrize("settings_class", [QaApiSettings, BrokerSettings, ListenerSettings])
def test_every_setting_of_every_service_is_in_the_catalog(settings_class: type[QaApiSettings]) -> None:
    prefix = settings_class.model_config["env_prefix"]
    variables = {f"{prefix}{name}".upper() for name in settings_class.model_fields}
    assert variables - KNOWN_VARIABLES == set()


def _readme_table_variables() -> set[str]:
    """The names in the first column of README.md's tables whose first header is `variable`."""
    found: set[str] = set()
    in_table = False
    for line in (ROOT / "README.md").read_text().splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        first = line.strip("|").split("|")[0].strip()
        if first == "variable":
            in_table = True
        elif in_table:
            found.update(match.group(0) for match in _NAME.finditer(first))
    return found


def test_the_catalog_and_the_readme_configuration_tables_name_the_same_variables() -> None:
    documented = _readme_table_variables()
    assert len(documented) > 50  # the tables were found
    assert KNOWN_VARIABLES - documented == set(), "in the catalog, missing from README.md's tables"
    assert documented - KNOWN_VARIABLES == set(), "in README.md's tables, missing from the catalog"


def _used_names() -> dict[str, set[str]]:
    """Every `QAHUB_` name (or `QAHUB_X_*` pattern) the deployment's files use → the files using it."""
    files = [ROOT / "docker-compose.yml", ROOT / ".env.example", ROOT / "Makefile", ROOT / ".ci" / "run"]
    for folder in ("deploy", "cli", "services", "shared", "bench"):
        files += [path for path in (ROOT / folder).rglob("*") if path.is_file() and ".venv" not in path.parts]
    used: dict[str, set[str]] = {}
    for path in files:
        if path.suffix in {".pyc", ".png"}:
            continue
        for match in _NAME.finditer(path.read_text(errors="replace")):
            used.setdefault(match.group(0), set()).add(str(path.relative_to(ROOT)))
    return used


def test_every_qahub_name_the_scripts_compose_and_the_cli_use_is_in_the_catalog() -> None:
    used = _used_names()
    assert "QAHUB_PG_FSYNC" in used  # deploy/ was read
    assert "QAHUB_GRAFANA_PUBLISH" in used  # docker-compose.yml was read
    unknown = {
        name: files
        for name, files in used.items()
        if not (
            any(known.startswith(name[:-1]) for known in KNOWN_VARIABLES)
            if name.endswith("*")
            else name in KNOWN_VARIABLES
        )
    }
    assert unknown == {}


def test_a_misspelt_name_gets_the_closest_known_one_and_a_known_name_no_report() -> None:
    reports = unknown_variables(
        {
            "the environment": ["QAHUB_WEBHOOK_PORT", "QAHUB_DATABSE_URL", "PATH", "QAHUB_NOTHING_LIKE_IT"],
            ".env": ["QAHUB_QA_API_PROT", "QAHUB_DATABSE_URL", "QAHUB_TEST_DATABASE_URL"],
        }
    )
    assert [str(report) for report in reports] == [
        "unknown variable QAHUB_DATABSE_URL (in the environment and .env); did you mean QAHUB_DATABASE_URL?",
        "unknown variable QAHUB_NOTHING_LIKE_IT (in the environment)",
        "unknown variable QAHUB_QA_API_PROT (in .env); did you mean QAHUB_QA_API_PORT?",
    ]


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("QAHUB_LOGLEVEL", "QAHUB_LOG_LEVEL"),
        ("qahub_webhok_port", "QAHUB_WEBHOOK_PORT"),
        ("QAHUB_INFLUXDB_URL", "QAHUB_INFLUX_URL"),
        ("QAHUB_FORWARDED_ALLOWED_IPS", "QAHUB_FORWARDED_ALLOW_IPS"),
    ],
)
def test_common_slips_are_matched_to_the_variable_meant(given: str, meant: str) -> None:
    assert closest_known(given) == meant
