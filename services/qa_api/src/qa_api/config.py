"""qa_api's one settings class: environment variables prefixed `QAHUB_`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_shared.settings import CommonSettings, DatabaseSettings, ProductionGuard


class Settings(CommonSettings, DatabaseSettings, ProductionGuard, BaseSettings):
    """Configuration of qa_api, read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_prefix="QAHUB_", env_file=".env", extra="ignore")

    qa_api_host: str = Field(default="127.0.0.1", description="Address qa_api listens on.")
    qa_api_port: int = Field(default=5151, ge=1, le=65535, description="Port qa_api listens on.")
