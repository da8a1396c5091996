"""How the metrics broker and the webhook listener verify tokens: with the keys and revocations qa_api
publishes, fetched once and cached, so a request costs no round trip to qa_api."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import ASGIApp

from qahub_shared.auth.dependencies import Authenticator
from qahub_shared.auth.keys import generate_pem, load_signing_keys
from qahub_shared.auth.principal import Audience, Scope
from qahub_shared.auth.remote import RemoteKeySet, fetch_revocations
from qahub_shared.auth.revocations import RevocationList
from qahub_shared.auth.tokens import TokenIssuer, TokenVerifier
from qahub_shared.errors import ServiceUnavailable, Unauthorized
from tests.qa_api.identity.helpers import bearer, create_token, grant

JWKS = "/.well-known/jwks.json"
REVOCATIONS = "/api/v2/auth/revocations"


class Broker:
    """What a service other than qa_api builds: a verifier for its audience, fed over HTTP."""

    def __init__(self, qa_api: ASGIApp) -> None:
        self.fetched: list[str] = []

        async def count(request: httpx.Request) -> None:
            self.fetched.append(request.url.path)

        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=qa_api),
            base_url="http://qa-api.test",
            event_hooks={"request": [count]},
        )
        self.revocations = RevocationList(
            lambda: fetch_revocations(self.client, REVOCATIONS), interval_seconds=3600
        )
        verifier = TokenVerifier(
            RemoteKeySet(self.client, JWKS, min_interval_seconds=3600),
            issuer="qahub",
            audience=Audience.METRICS_BROKER,
        )
        self.authenticator = Authenticator(verifier, self.revocations)


@pytest.fixture
async def broker(app: ASGIApp) -> AsyncIterator[Broker]:
    found = Broker(app)
    await found.revocations.refresh()
    yield found
    await found.client.aclose()


async def test_a_metrics_token_is_verified_locally_after_one_fetch_of_the_keys(
    broker: Broker, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    issued = await create_token(anonymous, admin_token, scopes=["metrics:write"], projects=["tfa/*"])

    principals = [await broker.authenticator.authenticate(f"JWT {issued['access_token']}") for _ in range(20)]

    assert broker.fetched == [REVOCATIONS, JWKS]
    for principal in principals:
        assert principal is not None
        assert principal.allows(Scope.METRICS_WRITE, "tfa/trusted-firmware-a")
        assert not principal.allows(Scope.METRICS_WRITE, "acme/vision")


async def test_a_runs_token_is_not_valid_at_the_broker(
    broker: Broker, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    issued = await create_token(anonymous, admin_token, scopes=["runs:write"])
    with pytest.raises(Unauthorized, match="audience"):
        await broker.authenticator.authenticate(f"Bearer {issued['access_token']}")


async def test_a_revocation_reaches_the_broker_at_its_next_refresh(
    broker: Broker, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    issued = await create_token(anonymous, admin_token, scopes=["metrics:write"])
    header = f"Bearer {issued['access_token']}"
    assert await broker.authenticator.authenticate(header) is not None

    revoked = await anonymous.delete(f"/api/v2/tokens/{issued['token_id']}", headers=bearer(admin_token))
    assert revoked.status_code == 200
    # until the broker refreshes (every QAHUB_REVOCATION_REFRESH_SECONDS), it cannot know
    assert await broker.authenticator.authenticate(header) is not None
    await broker.revocations.refresh()

    with pytest.raises(Unauthorized, match="revoked"):
        await broker.authenticator.authenticate(header)


async def test_tokens_naming_unknown_keys_cannot_make_the_broker_hammer_qa_api(broker: Broker) -> None:
    stranger = TokenIssuer(load_signing_keys(generate_pem()), issuer="qahub")
    metrics = grant(scopes=frozenset({Scope.METRICS_WRITE}))
    for _ in range(10):
        with pytest.raises(Unauthorized, match="unknown key"):
            await broker.authenticator.authenticate(f"Bearer {stranger.issue(metrics)}")

    assert broker.fetched.count(JWKS) == 1


async def test_while_the_keys_cannot_be_fetched_tokens_get_503_and_the_next_request_retries(
    broker: Broker, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    issued = await create_token(anonymous, admin_token, scopes=["metrics:write"])
    # port 9 (discard) on loopback: nothing listens, so the issuer is unreachable
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as down:
        unreachable = RemoteKeySet(down, JWKS)
        verifier = TokenVerifier(unreachable, issuer="qahub", audience=Audience.METRICS_BROKER)
        for _ in range(2):
            with pytest.raises(ServiceUnavailable):
                await verifier.verify(issued["access_token"])
    reachable = TokenVerifier(
        RemoteKeySet(broker.client, JWKS), issuer="qahub", audience=Audience.METRICS_BROKER
    )
    assert (await reachable.verify(issued["access_token"])).subject == "admin"


async def test_until_revocations_are_loaded_tokens_are_refused_with_503() -> None:
    async def unreachable() -> list[str]:
        raise httpx.ConnectError("qa_api is down")

    revocations = RevocationList(unreachable, interval_seconds=60)
    async with revocations.running():
        with pytest.raises(ServiceUnavailable):
            revocations.is_revoked("any")
