"""Settings fragments every service's one settings class is made of.

Each service declares a single `pydantic-settings` class that inherits these fragments and names its own
environment prefix. Production mode (`QAHUB_ENV=production`) refuses development defaults.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

DEV_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qahub"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# uvicorn's own default: the loopback proxies
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"


class Environment(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class CommonSettings(BaseModel):
    """What every service has: its mode, its logging, the proxies it believes, and its caps on request
    size and concurrency."""

    env: Environment = Field(
        default=Environment.DEV,
        description="`dev` or `production`; production refuses development defaults.",
    )
    log_level: str = Field(
        default="INFO", description="Root log level: DEBUG, INFO, WARNING, ERROR or CRITICAL."
    )
    log_json: bool = Field(default=False, description="Log one JSON object per line.")
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body, in bytes; larger bodies get 413.",
    )
    max_concurrent_requests: int = Field(
        default=1024,
        ge=1,
        description="Requests handled at once; past it, 503 with `Retry-After: 1` (`/healthz` and "
        "`/metrics` are always answered).",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request body must have fully arrived this long after the request started; "
        "otherwise 408 (a trickling client does not hold a place for ever).",
    )

    forwarded_allow_ips: str = Field(
        default=DEFAULT_FORWARDED_ALLOW_IPS,
        description="Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` headers are believed "
        "(uvicorn's `forwarded_allow_ips`): comma-separated addresses or networks (`10.0.0.0/8`), `*` for "
        "any, empty for none. A request from one of them is seen as from the client it names (the login "
        "rate limit counts that address).",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]} (any case)")
        return level.strip().upper()

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_any(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                # strict, as uvicorn parses them: it silently ignores a network with host bits set
                ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(
                    "comma-separated IP addresses or networks (such as 10.0.0.0/8), or * for any "
                    f"({entry!r} is neither)"
                ) from None
        return ",".join(entries)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION


class DatabaseSettings(BaseModel):
    """A PostgreSQL database reached through asyncpg."""

    database_url: str = Field(
        default=DEV_DATABASE_URL,
        description="PostgreSQL URL (`postgresql://` or `postgresql+asyncpg://`).",
    )
    # Sized for a CLI fleet's concurrency: past it, the pool opens and closes a connection per burst
    # (a new PostgreSQL backend and TLS handshake each), which cost the write path more than its SQL.
    database_pool_size: int = Field(
        default=20, ge=1, le=200, description="Connections kept open; the pool may grow to twice as many."
    )
    database_statement_timeout_ms: int = Field(
        default=30_000, ge=100, description="Server-side cap on any one SQL statement."
    )

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:port/db)")


class AuthSettings(BaseModel):
    """How a service checks tokens issued by qa_api."""

    jwt_issuer: str = Field(
        default="qahub",
        min_length=1,
        description="The `iss` of QA Hub tokens; the same value for every service of one deployment.",
    )
    revocation_refresh_seconds: float = Field(
        default=10.0,
        ge=1.0,
        le=3600.0,
        description="How often each process reloads the revoked tokens: the bound on how long a revoked "
        "token keeps working.",
    )


class ProductionGuard(BaseModel):
    """Mix into a settings class (after the fragments) to refuse dev defaults in production."""

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> Self:
        if getattr(self, "env", None) is not Environment.PRODUCTION:
            return self
        if getattr(self, "database_url", None) == DatabaseSettings._asyncpg_driver(DEV_DATABASE_URL):
            raise ValueError(
                "QAHUB_ENV=production refuses the development database URL: set QAHUB_DATABASE_URL"
            )
        return self
