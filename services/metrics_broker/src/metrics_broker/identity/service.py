"""Trading a username and password for a `metrics:write` token, through qa_api (the identity issuer).

qa_api owns users and tokens, and the broker keeps no password. For `POST /auth`, it logs in to qa_api
as the user (`POST /api/v2/auth/login`), creates with that session an API token scoped `metrics:write`
only and expiring after `QAHUB_AUTH_TOKEN_TTL_HOURS` (`POST /api/v2/tokens`), and logs the session out
(`POST /api/v2/auth/logout`), so the only credential left is the narrow one handed to the client. The
token is listed in the user's `qahub token list` and revocable there, like any other.

The client's address goes to qa_api as `X-Forwarded-For`, so qa_api's per-address login limit counts
the client, not the broker (qa_api honours it from a trusted proxy address, loopback by default).
"""

from __future__ import annotations

import contextlib
import logging

import httpx

from qahub_shared.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized

logger = logging.getLogger(__name__)

TOKEN_NAME = "metrics_broker /auth"  # noqa: S105  (a label, not a secret)


def _unavailable(reason: str) -> ServiceUnavailable:
    logger.warning("identity issuer: %s", reason)
    return ServiceUnavailable(
        "The identity issuer (qa_api) is unavailable; retry shortly.", headers={"Retry-After": "5"}
    )


def _token_of(response: httpx.Response) -> str:
    try:
        token = response.json()["access_token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _unavailable(f"{response.request.url.path} answered without a token") from exc
    if not isinstance(token, str):
        raise _unavailable(f"{response.request.url.path} answered a token that is not a string")
    return token


def _projects_of(login: httpx.Response) -> list[str] | None:
    try:
        projects = login.json().get("projects")
    except (ValueError, AttributeError):
        return None
    return [str(p) for p in projects] if isinstance(projects, list) else None


def _message_of(response: httpx.Response) -> str:
    """qa_api's own explanation, from its error envelope."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"qa_api answered {response.status_code}."


class IdentityIssuer:
    """qa_api, over the process's HTTP client."""

    def __init__(self, client: httpx.AsyncClient, api_url: str, *, token_ttl_hours: float) -> None:
        self._client = client
        self._api = api_url
        self._ttl_days = token_ttl_hours / 24

    async def metrics_token(self, *, username: str, password: str, client_address: str | None) -> str:
        """A new `metrics:write` token for this user; 401 on wrong credentials, 403 when the user may not
        write metrics, 429 when qa_api's login limits are reached, 503 when qa_api cannot be reached."""
        headers = {"X-Forwarded-For": client_address} if client_address else {}
        login = await self._post(
            "/api/v2/auth/login", json={"username": username, "password": password}, headers=headers
        )
        if login.status_code == 429:
            raise TooManyRequests(
                "Too many login attempts; retry later.",
                headers={"Retry-After": login.headers.get("Retry-After", "60")},
            )
        if login.status_code in (401, 422):
            raise Unauthorized(
                "Wrong username or password.", headers={"WWW-Authenticate": 'JWT realm="qahub"'}
            )
        if login.status_code != 200:
            raise _unavailable(f"login answered {login.status_code}")
        session = {"Authorization": f"Bearer {_token_of(login)}"}
        # a user restricted to projects may only make tokens restricted the same way
        projects = _projects_of(login)
        try:
            created = await self._post(
                "/api/v2/tokens",
                json={
                    "name": TOKEN_NAME,
                    "scopes": ["metrics:write"],
                    "expires_in_days": self._ttl_days,
                    "projects": projects,
                },
                headers=session,
            )
        finally:
            # the session expires on its own if this fails; the token it made is what matters
            with contextlib.suppress(ServiceUnavailable):
                await self._post("/api/v2/auth/logout", headers=session)
        if created.status_code == 403:
            raise Forbidden(f"This user may not write metrics: {_message_of(created)}")
        if created.status_code != 201:
            raise _unavailable(f"token creation answered {created.status_code}: {created.text[:200]}")
        return _token_of(created)

    async def _post(
        self, path: str, *, headers: dict[str, str], json: dict[str, object] | None = None
    ) -> httpx.Response:
        try:
            return await self._client.post(self._api + path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise _unavailable(f"{path}: {type(exc).__name__}: {exc}") from exc
