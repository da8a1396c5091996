"""For services other than qa_api: the issuer's public keys and revocations, fetched over HTTP and cached.

`RemoteKeySet` fetches qa_api's JWK Set (`GET /.well-known/jwks.json`) when first needed, again every
`refresh_seconds`, and when a token names a key it does not know (at most once per `min_interval_seconds`,
so garbage tokens cannot make it hammer qa_api). `fetch_revocations` reads `GET /api/v2/auth/revocations`
for a `RevocationList`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from qahub_shared.auth.keys import PublicKey, public_key_from_jwk
from qahub_shared.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class RemoteKeySet:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        refresh_seconds: float = 300.0,
        min_interval_seconds: float = 30.0,
    ) -> None:
        self._client = client
        self._url = url
        self._refresh = refresh_seconds
        self._min_interval = min_interval_seconds
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PublicKey | None:
        if self._due(kid):
            async with self._lock:
                if self._due(kid):
                    await self._fetch()
        return self._keys.get(kid)

    def _due(self, kid: str) -> bool:
        if self._fetched_at is None:
            return True
        age = time.monotonic() - self._fetched_at
        return age > self._refresh or (kid not in self._keys and age > self._min_interval)

    async def _fetch(self) -> None:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            members = response.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            logger.warning("could not fetch signing keys from %s: %s", self._url, exc)
            if not self._keys:
                # nothing to verify with: the next request tries again (no throttle to wait out)
                raise ServiceUnavailable(
                    "The identity issuer's signing keys cannot be fetched; retry shortly.",
                    headers={"Retry-After": "5"},
                ) from None
            # keep verifying with the keys we have; try again after the usual interval
            self._fetched_at = time.monotonic()
            return
        self._fetched_at = time.monotonic()
        keys = {}
        for member in members:
            try:
                key = public_key_from_jwk(member)
            except (ValueError, TypeError, AttributeError) as exc:
                logger.warning("ignoring a published key that is not ES256: %s", exc)
                continue
            keys[key.kid] = key
        self._keys = keys


async def fetch_revocations(client: httpx.AsyncClient, url: str) -> list[str]:
    response = await client.get(url)
    response.raise_for_status()
    revoked = response.json()["revoked"]
    return [str(token_id) for token_id in revoked]
