"""qa_api as the listener sees it: `POST /api/v2/git/updates` with the listener's `commits:write` token.

QaApiUnavailable   unreachable, timed out, 5xx, 429 or 408: the delivery waits and is retried
QaApiRefused       any other 4xx: the delivery failed; the reason is recorded
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from qahub_shared.schemas.git import GitUpdates, GitUpdatesApplied

UPDATES_PATH = "/api/v2/git/updates"
_RETRYABLE = {408, 425, 429}


class QaApiUnavailable(Exception):
    """qa_api could not take the updates now; sending them again later may work."""


class QaApiRefused(Exception):
    """qa_api refused the updates; sending them again will not help."""


def _reason(response: httpx.Response) -> str:
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text.strip()[:300] or response.reason_phrase
    return f"qa_api answered {response.status_code}: {message}"


class QaApi:
    """Sends git updates over the process's one pooled HTTP client."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: SecretStr | None) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + UPDATES_PATH
        self._token = token

    async def send(self, updates: GitUpdates) -> GitUpdatesApplied:
        headers = {"Content-Type": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        try:
            response = await self._client.post(
                self._url, content=updates.model_dump_json(exclude_defaults=True), headers=headers
            )
        except httpx.HTTPError as error:
            raise QaApiUnavailable(f"qa_api is unreachable: {type(error).__name__}: {error}") from None
        if response.status_code >= 500 or response.status_code in _RETRYABLE:
            raise QaApiUnavailable(_reason(response))
        if response.is_error:
            raise QaApiRefused(_reason(response))
        try:
            return GitUpdatesApplied.model_validate_json(response.content)
        except ValueError:
            raise QaApiRefused(f"qa_api answered {response.status_code} with an unexpected body") from None
