"""`GET /healthz` (the process is alive) and `GET /readyz` (its dependencies answer) for every service."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from qahub_shared.errors import ERROR_RESPONSES, ServiceUnavailable

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[Request], Awaitable[None]]


class Health(BaseModel):
    status: str = Field(examples=["ok"])


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """Build the two probes; each readiness check raises when its dependency is unreachable."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        summary="Every dependency is reachable",
        responses={503: ERROR_RESPONSES[503]},
    )
    async def readyz(request: Request) -> Health:
        for name, check in checks.items():
            try:
                await check(request)
            except Exception as exc:
                logger.warning("readiness check %s failed: %s", name, exc)
                raise ServiceUnavailable(f"{name} is unreachable", headers={"Retry-After": "5"}) from exc
        return Health(status="ok")

    return router
