"""Cursor pagination: the one page shape of every list endpoint."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from qahub_shared.errors import InvalidInput

T = TypeVar("T")

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


class Page(BaseModel, Generic[T]):
    """A page of items; pass `next_cursor` back as `cursor` to get the next one (null: no more)."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Opaque; absent when this is the last page.")


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, keys: set[str]) -> dict[str, Any]:
    """Decode a cursor made by `encode_cursor`, refusing anything that does not have exactly `keys`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("cursor: not a cursor this API issued") from exc
    if not isinstance(position, dict) or set(position) != keys:
        raise InvalidInput("cursor: not a cursor this API issued")
    return position
