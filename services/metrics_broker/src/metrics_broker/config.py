"""The metrics broker's one settings class: environment variables prefixed `QAHUB_`."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_shared.settings import AuthSettings, CommonSettings, DatabaseSettings, ProductionGuard

DEV_INFLUX_URL = "http://127.0.0.1:8086"
DEV_QA_API_URL = "http://127.0.0.1:5151"

# The TF-A broker's database names: Grafana dashboards and datasources already point at them.
DEFAULT_DATABASES = {
    "tfa_code_churn": "TFA_CodeChurn",
    "tfa_complexity": "TFA_Complexity",
    "tfa_defects": "TFA_Defects",
    "tfa_image_size": "TFA_ImageSize",
    "tfa_misra_defects": "TFA_MisraDefects",
    "tfa_rtinstr": "TFA_RTINSTR",
    "tfm_image_size": "TFM_ImageSize",
}
# InfluxDB accepts almost any database name when quoted; we keep to names that need no quoting in
# InfluxQL or Grafana.
DATABASE_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
_DATABASE_NAME = re.compile(DATABASE_NAME)


class Settings(CommonSettings, DatabaseSettings, AuthSettings, ProductionGuard, BaseSettings):
    """Configuration of the metrics broker, read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_prefix="QAHUB_", env_file=".env", extra="ignore")

    metrics_broker_host: str = Field(default="127.0.0.1", description="Address the broker listens on.")
    metrics_broker_port: int = Field(
        default=5000, ge=1, le=65535, description="Port the broker listens on (TF-A's generators use 5000)."
    )
    influx_url: str = Field(
        default=DEV_INFLUX_URL,
        description="InfluxDB 1.x base URL, e.g. `http://127.0.0.1:8086`.",
    )
    influx_username: str | None = Field(default=None, description="InfluxDB user, when it has auth on.")
    influx_password: SecretStr | None = Field(default=None, description="That user's password.")
    influx_write_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Longest wait for InfluxDB to acknowledge a write; past it the payload goes to the "
        "spool (503 only when the spool cannot take it either).",
    )
    influx_databases: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_DATABASES),
        description="JSON object: database family (`tfa_code_churn`, `tfa_complexity`, `tfa_defects`, "
        "`tfa_image_size`, `tfa_misra_defects`, `tfa_rtinstr`, `tfm_image_size`) → InfluxDB database. "
        "Families left out keep TF-A's name.",
    )
    group_commit_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="How long a payload for a database with no write in flight waits for others to join "
        "its write (while a write is in flight, payloads gather until it is answered, whatever this is).",
    )
    group_commit_max_points: int = Field(
        default=5000, ge=1, le=100_000, description="A group is written at once when it reaches this size."
    )
    max_points_per_request: int = Field(
        default=10_000, ge=1, le=100_000, description="Most points one payload may carry."
    )
    api_url: str = Field(
        default=DEV_QA_API_URL,
        description="qa_api, the identity issuer: its keys, revocations, and logins for `POST /auth` (the "
        "same variable the `qahub` CLI reads).",
    )
    auth_token_ttl_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,
        description="Lifetime of the `metrics:write` token `POST /auth` hands out.",
    )

    kinds_refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often the custom kinds are reloaded from PostgreSQL (another broker's changes "
        "show within this time; this broker's own at once).",
    )
    idempotency_key_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="How long `POST /api/v1/points` remembers an `Idempotency-Key` and its answer.",
    )

    spool_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Spooled payloads the drainer takes per transaction."
    )
    spool_retry_min_seconds: float = Field(
        default=0.5, gt=0, le=60, description="First wait of the drainer after InfluxDB failed it."
    )
    spool_retry_max_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Longest wait of the drainer (the backoff doubles up to it)."
    )
    spool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Longest wait for a PostgreSQL connection of the spool; past it, 503.",
    )

    @field_validator("influx_username", "influx_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("influx_url", "api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/")

    @field_validator("influx_databases")
    @classmethod
    def _known_families(cls, databases: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(databases) - set(DEFAULT_DATABASES))
        if unknown:
            raise ValueError(f"unknown database families {unknown}; known: {sorted(DEFAULT_DATABASES)}")
        for name in databases.values():
            if not _DATABASE_NAME.fullmatch(name):
                raise ValueError(f"database name {name!r} must match {_DATABASE_NAME.pattern}")
        return {**DEFAULT_DATABASES, **databases}

    # named apart from ProductionGuard's validator (the database URL), which a same name would replace
    @model_validator(mode="after")
    def _refuse_dev_services_in_production(self) -> Self:
        if not self.is_production:
            return self
        if self.influx_url == DEV_INFLUX_URL:
            raise ValueError(
                "QAHUB_ENV=production refuses the development InfluxDB URL: set QAHUB_INFLUX_URL"
            )
        if self.api_url == DEV_QA_API_URL:
            raise ValueError("QAHUB_ENV=production refuses the development qa_api URL: set QAHUB_API_URL")
        return self
