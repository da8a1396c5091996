"""Deliveries on the wire: the answer to a webhook, and the inbox as the admin API lists it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class DeliveryState(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class WebhookAnswer(BaseModel):
    """What a webhook sender gets back."""

    status: str = Field(examples=["accepted"], description="accepted, requeued, duplicate or ignored")
    delivery_id: int | None = None


class DeliveryPublic(BaseModel):
    id: int
    project: str
    provider: str
    event: str = Field(examples=["Push Hook", "push", "reconcile"])
    idempotency_key: str
    state: DeliveryState
    reason: str | None = Field(description="Why it failed, or why it waits for a retry.")
    attempts: int
    received_at: datetime
    updated_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")
