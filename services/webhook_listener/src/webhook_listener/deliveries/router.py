"""`POST /webhooks/gitlab`, `POST /webhooks/github`, and the inbox for admins (`GET /api/v2/deliveries`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.requests import ClientDisconnect

from qahub_shared.bodies import ClientGone
from qahub_shared.errors import ERROR_RESPONSES
from qahub_shared.schemas.identifiers import ProjectId
from webhook_listener.deliveries import providers, service
from webhook_listener.deliveries.schemas import DeliveryPage, DeliveryState, WebhookAnswer
from webhook_listener.deps import Admin, EngineDep, WorkersDep
from webhook_listener.repositories.schemas import Provider

webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)
admin = APIRouter(prefix="/api/v2", tags=["deliveries"], responses=ERROR_RESPONSES)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored in the inbox; processed in the background."},
    200: {"model": WebhookAnswer, "description": "A duplicate, or an event the listener ignores."},
}


async def _raw_body(request: Request) -> bytes:
    try:
        # the size cap (BodySizeLimitMiddleware) has answered 413 before a larger body gets here
        return await request.body()
    except ClientDisconnect:
        raise ClientGone("The client disconnected before its body arrived.") from None


async def _receive(
    request: Request,
    response: Response,
    engine: EngineDep,
    workers: WorkersDep,
    provider: Provider,
    event: str,
) -> WebhookAnswer:
    body = await _raw_body(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    answer = await service.receive(engine, provider=provider, event=event, headers=headers, body=body)
    if answer.status == "duplicate":
        response.status_code = 200
    else:
        workers.wake()
    return answer


@webhooks.post("/gitlab", status_code=202, responses=_RESPONSES, summary="A GitLab webhook")
async def gitlab(
    request: Request, response: Response, engine: EngineDep, workers: WorkersDep
) -> WebhookAnswer:
    """`Push Hook` and `Tag Push Hook`, authenticated by `X-Gitlab-Token`. Other events get 200 and are
    ignored (GitLab disables a hook that answers 4xx)."""
    event = request.headers.get("x-gitlab-event", "")
    if event not in providers.GITLAB_EVENTS:
        response.status_code = 200
        return WebhookAnswer(status="ignored")
    return await _receive(request, response, engine, workers, Provider.GITLAB, event)


@webhooks.post("/github", status_code=202, responses=_RESPONSES, summary="A GitHub webhook")
async def github(
    request: Request, response: Response, engine: EngineDep, workers: WorkersDep
) -> WebhookAnswer:
    """`push`, authenticated by `X-Hub-Signature-256`. `ping` (sent when the hook is created) and other
    events get 200 and are ignored."""
    event = request.headers.get("x-github-event", "")
    if event not in providers.GITHUB_EVENTS:
        response.status_code = 200
        return WebhookAnswer(status="pong" if event == providers.GITHUB_PING else "ignored")
    return await _receive(request, response, engine, workers, Provider.GITHUB, event)


@admin.get("/deliveries", summary="The inbox, newest first, with each delivery's state")
async def list_deliveries(
    _: Admin,
    engine: EngineDep,
    state: DeliveryState | None = None,
    project: Annotated[ProjectId | None, Query(description="Only this repository's.")] = None,
    provider: Provider | None = None,
    cursor: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPage:
    return await service.list_deliveries(
        engine, cursor=cursor, limit=limit, state=state, provider=provider, project=project
    )
