"""The broker's settings: TF-A's port and database names by default, and production refuses dev defaults."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from metrics_broker.config import Settings


def settings(**values: Any) -> Settings:
    # _env_file=None: a developer's .env must not change what is under test
    return Settings(_env_file=None, **values)


def test_defaults_are_what_tfa_generators_and_dashboards_expect(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QAHUB_INFLUX_URL", "QAHUB_METRICS_BROKER_PORT", "QAHUB_INFLUX_DATABASES"):
        monkeypatch.delenv(name, raising=False)
    found = settings()
    assert (found.metrics_broker_host, found.metrics_broker_port) == ("127.0.0.1", 5000)
    assert found.influx_databases == {
        "tfa_code_churn": "TFA_CodeChurn",
        "tfa_complexity": "TFA_Complexity",
        "tfa_defects": "TFA_Defects",
        "tfa_image_size": "TFA_ImageSize",
        "tfa_misra_defects": "TFA_MisraDefects",
        "tfa_rtinstr": "TFA_RTINSTR",
        "tfm_image_size": "TFM_ImageSize",
    }


def test_database_names_are_configurable_per_family_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QAHUB_INFLUX_URL", "http://influx.example:8086/")
    monkeypatch.setenv("QAHUB_INFLUX_DATABASES", '{"tfa_code_churn": "churn"}')
    found = settings()
    assert found.influx_url == "http://influx.example:8086"
    assert found.influx_databases["tfa_code_churn"] == "churn"
    assert found.influx_databases["tfa_defects"] == "TFA_Defects"


@pytest.mark.parametrize(
    ("databases", "message"),
    [
        ({"tfa_churn": "x"}, "unknown database families"),
        ({"tfa_code_churn": 'x"; DROP'}, "must match"),
        ({"tfa_code_churn": "churn\n"}, "must match"),
    ],
)
def test_unknown_families_and_unsafe_database_names_are_refused(
    databases: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(influx_databases=databases)


def test_production_refuses_the_development_influxdb_qa_api_and_database_urls() -> None:
    database = "postgresql://broker:pw@db.internal:5432/qahub"
    with pytest.raises(ValidationError, match="QAHUB_INFLUX_URL"):
        settings(env="production", api_url="https://qa.example", database_url=database)
    with pytest.raises(ValidationError, match="QAHUB_API_URL"):
        settings(env="production", influx_url="https://influx.example", database_url=database)
    with pytest.raises(ValidationError, match="QAHUB_DATABASE_URL"):
        settings(env="production", influx_url="https://influx.example", api_url="https://qa.example")
    assert settings(
        env="production",
        influx_url="https://influx.example",
        api_url="https://qa.example",
        database_url=database,
    )
