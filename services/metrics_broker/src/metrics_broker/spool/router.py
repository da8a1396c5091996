"""`GET /spool`: what waits for InfluxDB, and the payloads it rejected after they were acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from metrics_broker.spool.drainer import Drainer
from metrics_broker.spool.repository import Spool
from qahub_shared.auth.dependencies import Caller
from qahub_shared.auth.principal import Scope
from qahub_shared.errors import ERROR_RESPONSES

router = APIRouter(tags=["spool"])

MAX_LINES_SHOWN = 4096


class DeadLetterPublic(BaseModel):
    id: int
    database: str
    points: int
    reason: str = Field(description="Why InfluxDB rejected it, in its own words.")
    accepted_at: datetime
    rejected_at: datetime
    lines: str = Field(description=f"The payload's line protocol (its first {MAX_LINES_SHOWN} characters).")


class SpoolState(BaseModel):
    backlog: bool = Field(
        description="Some database's new payloads queue behind its spooled ones (true while any wait)."
    )
    backlogged_databases: list[str] = Field(description="The databases whose new payloads go to the spool.")
    draining_elsewhere: list[str] = Field(
        description="Databases another broker sharing the spool is draining: this one queues behind it."
    )
    waiting_databases: dict[str, float] = Field(
        description="Databases InfluxDB could not take lately (down, slow, or refusing the broker), with "
        "the delay before the drainer tries again, in seconds; the others drain meanwhile."
    )
    spooled_payloads: int
    spooled_points: int
    oldest_age_seconds: float | None = Field(description="How long the oldest spooled payload has waited.")
    dead_letters: int
    recent_dead_letters: list[DeadLetterPublic]


@router.get("/spool", summary="The spool and its dead letters (admin)", responses=ERROR_RESPONSES)
async def spool_state(
    request: Request,
    caller: Caller,
    limit: Annotated[int, Query(ge=0, le=200, description="Dead letters to list, newest first.")] = 20,
) -> SpoolState:
    caller.require(Scope.ADMIN)
    spool: Spool = request.state.spool
    drainer: Drainer = request.state.drainer
    stats = await spool.stats()
    dead = await spool.dead_letters(limit=limit)
    oldest = stats.oldest_accepted_at
    return SpoolState(
        backlog=drainer.backlog,
        backlogged_databases=drainer.backlogged_databases,
        draining_elsewhere=drainer.draining_elsewhere,
        waiting_databases=drainer.waiting_databases(),
        spooled_payloads=stats.payloads,
        spooled_points=stats.points,
        oldest_age_seconds=None if oldest is None else (datetime.now(UTC) - oldest).total_seconds(),
        dead_letters=stats.dead_letters,
        recent_dead_letters=[
            DeadLetterPublic(
                id=letter.id,
                database=letter.database,
                points=letter.points,
                reason=letter.reason,
                accepted_at=letter.accepted_at,
                rejected_at=letter.rejected_at,
                lines=letter.lines[:MAX_LINES_SHOWN],
            )
            for letter in dead
        ],
    )
