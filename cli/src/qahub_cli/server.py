"""The server `qahub` talks to, the token it sends, and how a failed request is told to the user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import typer

from qahub_cli import credentials

TIMEOUT_S = 30.0


class RequestFailed(Exception):
    """A request without an answer (the server unreachable), with an error answer, or with an answer
    qa_api does not give (a redirect, a body that is not JSON); the message is what to tell the user."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Server:
    url: str
    token_override: str | None
    # sent when neither the override nor a stored login gives a token (`qahub gate`: the qa CLI's QA_TOKEN)
    fallback_token: str | None = None

    def token(self) -> str | None:
        return self.token_override or credentials.stored_token(self.url) or self.fallback_token

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """`call`, exiting with status 1 and the message on stderr when it fails."""
        try:
            return self.call(method, path, auth=auth, **kwargs)
        except RequestFailed as error:
            fail(str(error))

    def call(
        self, method: str, path: str, *, auth: bool = True, token_required: bool = True, **kwargs: Any
    ) -> Any:
        """The decoded JSON answer; raises `RequestFailed`. Without a token, `token_required=False` sends
        none (a server with open reads answers reads without one)."""
        headers = {}
        if auth:
            token = self.token()
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            elif token_required:
                raise RequestFailed(f"not logged in to {self.url}: run `qahub login` or set QAHUB_TOKEN")
        try:
            with httpx.Client(base_url=self.url, timeout=TIMEOUT_S) as client:
                response = client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise RequestFailed(f"cannot reach {self.url}: {error}") from error
        if response.is_error:
            raise RequestFailed(
                f"{_error_message(response)} (HTTP {response.status_code})", response.status_code
            )
        if response.is_redirect:
            # qa_api never redirects: a proxy in front of it (a sign-in page) or a wrong URL does
            where = response.headers.get("location", "nowhere")
            raise RequestFailed(
                f"{self.url} redirects to {where}, not a qa_api answer (HTTP {response.status_code})",
                response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            kind = response.headers.get("content-type", "no content type")
            raise RequestFailed(
                f"{self.url} answered {kind}, not JSON: not a qa_api answer (HTTP {response.status_code})",
                response.status_code,
            ) from error


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        message = str(error["message"])
        details = [f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('message')}" for d in error["details"]]
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:500] or response.reason_phrase
    return "\n".join([message, *details[1:]]) if details else message


def fail(message: str) -> NoReturn:
    typer.echo(f"qahub: {message}", err=True)
    raise typer.Exit(1)
