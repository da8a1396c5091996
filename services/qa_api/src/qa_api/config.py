"""qa_api's one settings class: environment variables prefixed `QAHUB_`."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_shared.settings import AuthSettings, CommonSettings, DatabaseSettings, ProductionGuard

DEV_ADMIN_USERNAME = "admin"
DEV_ADMIN_PASSWORD = "qahub-dev-admin"  # noqa: S105  (the dev default: production refuses it)
MIN_PRODUCTION_PASSWORD_LENGTH = 12


class Settings(CommonSettings, DatabaseSettings, AuthSettings, ProductionGuard, BaseSettings):
    """Configuration of qa_api, read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_prefix="QAHUB_", env_file=".env", extra="ignore")

    qa_api_host: str = Field(default="127.0.0.1", description="Address qa_api listens on.")
    qa_api_port: int = Field(default=5151, ge=1, le=65535, description="Port qa_api listens on.")

    admin_username: str = Field(
        default=DEV_ADMIN_USERNAME,
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="The admin created on first start, when there is no user yet.",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of that first admin. Dev mode defaults it (and says so in the log); "
        "production requires it when there is no user yet.",
    )
    jwt_signing_key_file: Path | None = Field(
        default=None,
        description="PEM file of the EC P-256 private key(s) tokens are signed with (the first signs, all "
        "are published). Dev mode without it signs with a throwaway key; production requires it.",
    )
    session_ttl_minutes: int = Field(
        default=720, ge=5, le=7 * 24 * 60, description="Lifetime of a login's token."
    )
    token_default_ttl_days: int = Field(
        default=90, ge=1, description="Lifetime of an API token created without an expiry."
    )
    token_max_ttl_days: int = Field(default=365, ge=1, description="Longest lifetime an API token may have.")
    open_reads: bool | None = Field(
        default=None,
        description="Whether reads need no token. Unset: open in dev mode, closed (`runs:read`) in "
        "production mode.",
    )
    login_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins allowed per account per minute."
    )
    login_attempts_per_address: int = Field(
        default=60, ge=1, description="Logins allowed per client address per minute."
    )

    @field_validator("admin_password", "jwt_signing_key_file", "open_reads", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `QAHUB_ADMIN_PASSWORD=` (as Docker Compose passes an unset variable) means "not set"
        return None if value == "" else value

    @property
    def reads_are_open(self) -> bool:
        return self.open_reads if self.open_reads is not None else not self.is_production

    @model_validator(mode="after")
    def _refuse_dev_identity_in_production(self) -> Self:
        if not self.is_production:
            return self
        if self.jwt_signing_key_file is None:
            raise ValueError("QAHUB_ENV=production needs QAHUB_JWT_SIGNING_KEY_FILE (a signing key)")
        if self.admin_password is not None:
            password = self.admin_password.get_secret_value()
            if password == DEV_ADMIN_PASSWORD or len(password) < MIN_PRODUCTION_PASSWORD_LENGTH:
                raise ValueError(
                    "QAHUB_ENV=production refuses the development admin password and any password "
                    f"shorter than {MIN_PRODUCTION_PASSWORD_LENGTH} characters: set QAHUB_ADMIN_PASSWORD"
                )
        return self
