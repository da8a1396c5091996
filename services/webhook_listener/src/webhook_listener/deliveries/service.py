"""Receiving a webhook: authenticate, store in the inbox, answer. No git and no network here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from qahub_shared.auth.tokens import unauthorized
from qahub_shared.database import driver_connection
from webhook_listener.deliveries import providers
from webhook_listener.deliveries import repository as inbox
from webhook_listener.deliveries.schemas import DeliveryPage, DeliveryPublic, DeliveryState, WebhookAnswer
from webhook_listener.repositories import repository as repositories
from webhook_listener.repositories.schemas import Provider

logger = logging.getLogger(__name__)

# compared against when the repository is unknown, so both failures take the same time
_NO_SECRET = "-" * 32
OFFLOAD_BYTES = 128 * 1024

P = ParamSpec("P")
T = TypeVar("T")


async def _run(offload: bool, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await asyncio.to_thread(call, *args, **kwargs) if offload else call(*args, **kwargs)


async def receive(
    engine: AsyncEngine,
    *,
    provider: Provider,
    event: str,
    headers: dict[str, str],
    body: bytes,
    slots: asyncio.Semaphore,
) -> WebhookAnswer:
    """Store a delivery whose sender proves it knows the repository's secret; 401 otherwise.

    A large body is parsed, signed and hashed in a worker thread: milliseconds per megabyte that would
    otherwise hold up every other acknowledgement. At most `slots` acknowledgements hold a database
    connection at once (see `main.State.acknowledging`).
    """
    big = len(body) > OFFLOAD_BYTES
    path = await _run(big, providers.repository_path, provider, body)
    async with slots, driver_connection(engine) as driver:
        found = (
            None if path is None else await inbox.find_repository(driver, provider=provider.value, path=path)
        )
        secret = found[1] if found is not None else _NO_SECRET
        if provider is Provider.GITLAB:
            genuine = providers.gitlab_token_matches(secret, headers.get("x-gitlab-token"))
        else:
            signature = headers.get("x-hub-signature-256")
            genuine = await _run(big, providers.github_signature_matches, secret, body, signature)
        if found is None or not genuine:
            logger.info(
                "refused a %s delivery for %r: unknown repository or bad secret", provider.value, path
            )
            raise unauthorized("Unknown repository, or the secret does not match.")
        kept = {name: value for name, value in headers.items() if name not in providers.SECRET_HEADERS}
        delivery_id, stored = await inbox.store(
            driver,
            repository_id=found[0],
            provider=provider.value,
            event=event,
            idempotency_key=await _run(big, providers.idempotency_key, provider, headers, body),
            headers=kept,
            body=body,
        )
    logger.info("delivery %d (%s %s for %s): %s", delivery_id, provider.value, event, path, stored.value)
    return WebhookAnswer(status=stored.value, delivery_id=delivery_id)


async def list_deliveries(
    engine: AsyncEngine,
    *,
    cursor: int | None,
    limit: int,
    state: DeliveryState | None,
    provider: Provider | None,
    project: str | None,
) -> DeliveryPage:
    async with engine.connect() as connection:
        repository_id = None
        if project is not None:
            found = await repositories.find(
                connection, provider=(provider or Provider.GITLAB).value, path=project
            )
            if found is None and provider is None:
                found = await repositories.find(connection, provider=Provider.GITHUB.value, path=project)
            if found is None:
                return DeliveryPage(items=[], next_cursor=None)
            repository_id = found.id
        rows = await inbox.page(
            connection,
            before_id=cursor,
            limit=limit + 1,
            state=state.value if state else None,
            repository_id=repository_id,
            provider=provider.value if provider else None,
        )
    items = [DeliveryPublic.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return DeliveryPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)
