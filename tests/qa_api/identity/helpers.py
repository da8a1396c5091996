"""Small async builders for identity tests: users, logins, tokens, and tokens forged outside qa_api."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from qahub_shared.auth.keys import load_signing_keys
from qahub_shared.auth.principal import Scope, TokenKind
from qahub_shared.auth.tokens import Grant, TokenIssuer

PASSWORD = "correct horse battery"
ADMIN_PASSWORD = "admin-password-for-tests"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str) -> str:
    """Users outlive a test: each test names its own."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_user(
    client: httpx.AsyncClient, admin_token: str, username: str, **fields: Any
) -> dict[str, Any]:
    body = {"username": username, "password": PASSWORD, **fields}
    created = await client.post("/api/v2/users", json=body, headers=bearer(admin_token))
    assert created.status_code == 201, created.text
    user: dict[str, Any] = created.json()
    return user


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v2/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def create_token(client: httpx.AsyncClient, session_token: str, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "ci")
    created = await client.post("/api/v2/tokens", json=body, headers=bearer(session_token))
    assert created.status_code == 201, created.text
    issued: dict[str, Any] = created.json()
    return issued


def jwt_header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return header


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT put together by hand, as an attacker would."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signature)}"


def hmac_jwt(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def valid_claims(**overrides: Any) -> dict[str, Any]:
    """Claims qa_api would accept for an admin, were they signed by its key."""
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "qahub",
        "aud": ["qa_api"],
        "sub": "admin",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "scope": "admin",
        "kind": "api",
    }
    return {**claims, **overrides}


def issuer_from(key_file: Path, *, issuer: str = "qahub") -> TokenIssuer:
    """An issuer holding qa_api's own signing key: tokens it signs are genuine, whatever they say."""
    return TokenIssuer(load_signing_keys(key_file.read_text()), issuer=issuer)


def grant(
    *,
    scopes: frozenset[Scope] = frozenset({Scope.RUNS_WRITE}),
    issued: timedelta = timedelta(0),
    lifetime: timedelta = timedelta(hours=1),
    projects: tuple[str, ...] | None = None,
) -> Grant:
    """`issued`: how long ago it was issued."""
    now = datetime.now(UTC).replace(microsecond=0) - issued
    return Grant(
        subject="admin",
        token_id=str(uuid.uuid4()),
        kind=TokenKind.API,
        scopes=scopes,
        projects=projects,
        issued_at=now,
        expires_at=now + lifetime,
    )
