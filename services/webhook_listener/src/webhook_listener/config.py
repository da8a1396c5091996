"""The webhook listener's one settings class: environment variables prefixed `QAHUB_`."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_shared.settings import DEV_DATABASE_URL, AuthSettings, CommonSettings, DatabaseSettings

DEV_QA_API_URL = "http://127.0.0.1:5151"
# GitHub delivers payloads of up to 25 MB; GitLab's are smaller.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024


class Settings(CommonSettings, DatabaseSettings, AuthSettings, BaseSettings):
    """Configuration of the webhook listener, read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_prefix="QAHUB_", env_file=".env", extra="ignore")

    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        gt=0,
        description="Largest accepted webhook body, in bytes; larger bodies get 413.",
    )
    webhook_host: str = Field(default="127.0.0.1", description="Address the listener listens on.")
    webhook_port: int = Field(default=5152, ge=1, le=65535, description="Port the listener listens on.")
    webhook_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the listener's inbox and repositories. Unset: `QAHUB_DATABASE_URL` "
        "(its tables and migration history live beside qa_api's, under their own names).",
    )
    data_dir: Path = Field(
        default=Path(".data"), description="Where QA Hub keeps its files; mirrors go in `<data_dir>/mirrors`."
    )
    webhook_mirror_dir: Path | None = Field(
        default=None, description="Bare mirrors of the registered repositories. Unset: `<data_dir>/mirrors`."
    )
    webhook_allowed_clone_url_prefixes: list[str] = Field(
        default_factory=lambda: ["https://", "ssh://", "git@"],
        description="JSON list: a registered clone URL must start with one of these.",
    )
    webhook_allow_file_urls: bool = Field(
        default=False, description="Accept `file://` clone URLs (tests and local experiments only)."
    )
    api_url: str = Field(
        default=DEV_QA_API_URL,
        description="qa_api: where commits are sent, and the identity issuer (keys, revocations).",
    )
    webhook_qa_api_token: SecretStr | None = Field(
        default=None,
        description="The listener's token for qa_api, with the `commits:write` scope "
        "(`qahub token create --name webhook-listener --scope commits:write`).",
    )
    webhook_workers: int = Field(
        default=4, ge=1, le=64, description="Repositories processed at the same time (one delivery each)."
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often workers look for deliveries they were not told of."
    )
    webhook_batch_seconds: float = Field(
        default=0.2,
        ge=0,
        le=10,
        description="How long workers let deliveries gather after one arrives before they look at the "
        "inbox: a burst then costs fewer fetches, and its acknowledgements get the CPU first.",
    )
    webhook_retry_min_seconds: float = Field(
        default=1.0, gt=0, le=600, description="First wait before retrying a delivery qa_api could not take."
    )
    webhook_retry_max_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Longest wait between retries (the backoff doubles up to it).",
    )
    webhook_max_git_attempts: int = Field(
        default=5, ge=1, le=100, description="Failed fetches of a delivery before it is marked failed."
    )
    webhook_retention_days: float = Field(
        default=30.0,
        ge=0,
        description="Finished deliveries (done or failed) are deleted from the inbox after this many days, "
        "bodies included; 0: kept for ever.",
    )
    webhook_reconcile_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often every repository is fetched and compared with what qa_api was sent; 0: never "
        "(the admin endpoint still reconciles on demand).",
    )
    webhook_new_ref_max_commits: int = Field(
        default=10_000,
        ge=1,
        le=10_000,
        description="Most commits sent for a ref the listener has not seen before (newest first).",
    )
    webhook_git_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Longest clone or fetch of one repository."
    )

    @field_validator("webhook_database_url", "webhook_mirror_dir", "webhook_qa_api_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("webhook_database_url")
    @classmethod
    def _asyncpg_url(cls, url: str | None) -> str | None:
        return None if url is None else DatabaseSettings._asyncpg_driver(url)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/")

    @field_validator("webhook_allowed_clone_url_prefixes")
    @classmethod
    def _no_file_prefix(cls, prefixes: list[str]) -> list[str]:
        if any(prefix.lower().startswith("file:") for prefix in prefixes):
            raise ValueError("file:// URLs are enabled by QAHUB_WEBHOOK_ALLOW_FILE_URLS, not by a prefix")
        return prefixes

    @property
    def listener_database_url(self) -> str:
        return self.webhook_database_url or self.database_url

    @property
    def mirror_dir(self) -> Path:
        return self.webhook_mirror_dir or self.data_dir / "mirrors"

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> Self:
        if not self.is_production:
            return self
        if self.listener_database_url == DatabaseSettings._asyncpg_driver(DEV_DATABASE_URL):
            raise ValueError(
                "QAHUB_ENV=production refuses the development database URL: set QAHUB_WEBHOOK_DATABASE_URL "
                "or QAHUB_DATABASE_URL"
            )
        if self.webhook_allow_file_urls:
            raise ValueError("QAHUB_ENV=production refuses QAHUB_WEBHOOK_ALLOW_FILE_URLS")
        if self.webhook_qa_api_token is None:
            raise ValueError(
                "QAHUB_ENV=production needs QAHUB_WEBHOOK_QA_API_TOKEN (a `commits:write` token for qa_api)"
            )
        if self.api_url == DEV_QA_API_URL:
            raise ValueError("QAHUB_ENV=production refuses the development qa_api URL: set QAHUB_API_URL")
        return self
