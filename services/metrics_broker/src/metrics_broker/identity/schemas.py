"""Wire shapes of `POST /auth`, as TF-A's generators (Flask-JWT) send and read them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class AuthRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"username": "ci-tfa", "password": "..."}]}
    )

    # qa_api's own bounds: what it would refuse is refused here first
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class AuthToken(BaseModel):
    access_token: str = Field(description="Send it as `Authorization: JWT <token>` (or `Bearer`).")
