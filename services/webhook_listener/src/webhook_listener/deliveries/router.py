"""`POST /webhooks/gitlab`, `POST /webhooks/github`, and the inbox for admins (`GET /api/v2/deliveries`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from qahub_shared.auth.principal import Scope
from qahub_shared.bodies import raw_body
from qahub_shared.errors import ERROR_RESPONSES
from qahub_shared.schemas.identifiers import ProjectId
from webhook_listener.deliveries import providers, service
from webhook_listener.deliveries.schemas import DeliveryPage, DeliveryState, WebhookAnswer
from webhook_listener.deps import Admin, EngineDep, require_every_project
from webhook_listener.repositories.schemas import Provider
from webhook_listener.workers import Workers

webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)
admin = APIRouter(prefix="/api/v2", tags=["deliveries"], responses=ERROR_RESPONSES)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored in the inbox; processed in the background."},
    200: {"model": WebhookAnswer, "description": "A duplicate, or an event the listener ignores."},
}


def _answer(answer: WebhookAnswer, status_code: int) -> Response:
    return Response(answer.model_dump_json(), status_code=status_code, media_type="application/json")


# The two webhook routes take the request itself: no dependencies to solve on the hot path.
async def _receive(request: Request, provider: Provider, event: str) -> Response:
    # the size cap (BodySizeLimitMiddleware) has answered 413 before a larger body gets here
    body = await raw_body(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    answer = await service.receive(
        request.state.engine,
        provider=provider,
        event=event,
        headers=headers,
        body=body,
        slots=request.state.acknowledging,
    )
    if answer.status == "duplicate":
        return _answer(answer, 200)
    workers: Workers = request.state.workers
    workers.wake()
    return _answer(answer, 202)


@webhooks.post(
    "/gitlab", status_code=202, response_model=WebhookAnswer, responses=_RESPONSES, summary="A GitLab webhook"
)
async def gitlab(request: Request) -> Response:
    """`Push Hook` and `Tag Push Hook`, authenticated by `X-Gitlab-Token`. Other events get 200 and are
    ignored (GitLab disables a hook that answers 4xx)."""
    event = request.headers.get("x-gitlab-event", "")
    if event not in providers.GITLAB_EVENTS:
        return _answer(WebhookAnswer(status="ignored"), 200)
    return await _receive(request, Provider.GITLAB, event)


@webhooks.post(
    "/github", status_code=202, response_model=WebhookAnswer, responses=_RESPONSES, summary="A GitHub webhook"
)
async def github(request: Request) -> Response:
    """`push`, authenticated by `X-Hub-Signature-256`. `ping` (sent when the hook is created) and other
    events get 200 and are ignored."""
    event = request.headers.get("x-github-event", "")
    if event not in providers.GITHUB_EVENTS:
        return _answer(WebhookAnswer(status="pong" if event == providers.GITHUB_PING else "ignored"), 200)
    return await _receive(request, Provider.GITHUB, event)


@admin.get("/deliveries", summary="The inbox, newest first, with each delivery's state")
async def list_deliveries(
    admin: Admin,
    engine: EngineDep,
    state: DeliveryState | None = None,
    project: Annotated[ProjectId | None, Query(description="Only this repository's.")] = None,
    provider: Provider | None = None,
    cursor: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPage:
    if project is None:
        require_every_project(admin)
    else:
        admin.require(Scope.ADMIN, project)
    return await service.list_deliveries(
        engine, cursor=cursor, limit=limit, state=state, provider=provider, project=project
    )
