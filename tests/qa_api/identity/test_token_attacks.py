"""Every token an attacker (or a confused client) may present is refused with 401/403 in the envelope, and
writes nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from qahub_shared.auth.keys import generate_pem, load_signing_keys
from qahub_shared.auth.principal import Scope
from qahub_shared.auth.tokens import TokenIssuer
from tests.qa_api.builders import PROJECT, SHA, output_report
from tests.qa_api.identity.helpers import (
    bearer,
    create_token,
    grant,
    hmac_jwt,
    issuer_from,
    unsigned_jwt,
    valid_claims,
)


async def write_with(
    client: httpx.AsyncClient, headers: dict[str, str], project: str = PROJECT
) -> httpx.Response:
    return await client.post("/api/v1/output/", json=output_report(project=project), headers=headers)


async def nothing_stored(client: httpx.AsyncClient, project: str = PROJECT) -> bool:
    response = await client.get(f"/api/v2/commits/{SHA}", params={"project": project})
    return response.status_code == 404


def refused(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    assert message in error["message"], error["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
def kid(signing_key_file: Path) -> str:
    return load_signing_keys(signing_key_file.read_text())[0].kid


async def test_the_genuine_token_of_the_test_client_writes(client: httpx.AsyncClient) -> None:
    # the control experiment: the same write as below, with a good token, succeeds
    assert (await client.post("/api/v1/output/", json=output_report())).status_code == 200


async def test_a_write_without_a_token_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    refused(await write_with(anonymous, {}), 401, "needs a token")
    assert await nothing_stored(client)


async def test_a_write_without_a_token_is_refused_before_its_body_is_read(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    response = await anonymous.post(
        "/api/v1/output/", content=b"{not json", headers={"content-type": "application/json"}
    )

    refused(response, 401, "needs a token")
    assert await nothing_stored(client)


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer two words", "Token abc"],
    ids=["basic", "empty", "two-words", "unknown-scheme"],
)
async def test_a_malformed_authorization_header_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, authorization: str
) -> None:
    refused(await write_with(anonymous, {"Authorization": authorization}), 401, "must be 'Bearer <token>'")
    assert await nothing_stored(client)


async def test_a_token_that_is_not_a_jwt_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    refused(await write_with(anonymous, bearer("not-a-jwt")), 401, "not a JWT")
    assert await nothing_stored(client)


async def test_alg_none_is_refused(client: httpx.AsyncClient, anonymous: httpx.AsyncClient, kid: str) -> None:
    for alg in ("none", "None", "NONE"):
        token = unsigned_jwt({"alg": alg, "typ": "JWT", "kid": kid}, valid_claims())
        refused(await write_with(anonymous, bearer(token)), 401, "not accepted")
    assert await nothing_stored(client)


async def test_hs256_signed_with_the_published_public_key_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, kid: str
) -> None:
    # HS/RS confusion: the attacker uses the public key (which anyone can fetch) as an HMAC secret
    published = (await anonymous.get("/.well-known/jwks.json")).json()["keys"][0]
    secrets = [json.dumps(published).encode(), base64.urlsafe_b64decode(published["x"] + "==")]
    for secret in secrets:
        token = hmac_jwt({"alg": "HS256", "typ": "JWT", "kid": kid}, valid_claims(), secret)
        refused(await write_with(anonymous, bearer(token)), 401, "not accepted")
    assert await nothing_stored(client)


async def test_a_token_signed_by_another_key_with_our_kid_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, kid: str
) -> None:
    impostor = load_signing_keys(generate_pem())[0]
    # the impostor's token claims our key id
    token = TokenIssuer(
        [type(impostor)(kid=kid, signer=impostor.signer, public=impostor.public)], issuer="qahub"
    )
    refused(await write_with(anonymous, bearer(token.issue(grant()))), 401, "signature is invalid")
    assert await nothing_stored(client)


async def test_a_token_signed_by_an_unknown_key_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    stranger = TokenIssuer(load_signing_keys(generate_pem()), issuer="qahub")
    refused(await write_with(anonymous, bearer(stranger.issue(grant()))), 401, "unknown key")
    assert await nothing_stored(client)


async def test_a_tampered_payload_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, signing_key_file: Path
) -> None:
    genuine = issuer_from(signing_key_file).issue(grant(scopes=frozenset({Scope.RUNS_READ})))
    header, payload, signature = genuine.split(".")
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(await write_with(anonymous, bearer(f"{header}.{forged_payload}.{signature}")), 401, "signature")
    assert await nothing_stored(client)


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, signing_key_file: Path
) -> None:
    expired = issuer_from(signing_key_file).issue(
        grant(issued=timedelta(hours=2), lifetime=timedelta(hours=1))
    )
    refused(await write_with(anonymous, bearer(expired)), 401, "expired")
    assert await nothing_stored(client)


async def test_a_token_of_another_issuer_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, signing_key_file: Path
) -> None:
    foreign = issuer_from(signing_key_file, issuer="someone-else").issue(grant())
    refused(await write_with(anonymous, bearer(foreign)), 401, "issuer")
    assert await nothing_stored(client)


async def test_a_token_for_another_service_is_refused_by_its_audience(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    # metrics:write opens the metrics broker only: the token's audience does not include qa_api
    metrics_only = await create_token(anonymous, admin_token, scopes=["metrics:write"])
    refused(await write_with(anonymous, bearer(metrics_only["access_token"])), 401, "audience")
    assert await nothing_stored(client)


async def test_a_read_only_token_cannot_write(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    reader = await create_token(anonymous, admin_token, scopes=["runs:read"])
    response = await write_with(anonymous, bearer(reader["access_token"]))
    refused(response, 403, "lacks the scope 'runs:write'")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert await nothing_stored(client)


async def test_a_token_restricted_to_a_group_writes_there_and_nowhere_else(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    group = await create_token(anonymous, admin_token, scopes=["runs:write"], projects=["acme/*"])
    headers = bearer(group["access_token"])

    inside = await write_with(anonymous, headers, project="acme/vision/sub/dir")
    outside = await write_with(anonymous, headers, project="other/vision")
    prefix_lookalike = await write_with(anonymous, headers, project="acme-corp/vision")

    assert inside.status_code == 200, inside.text
    refused(outside, 403, "not valid for project 'other/vision'")
    refused(prefix_lookalike, 403, "not valid for project 'acme-corp/vision'")
    assert await nothing_stored(client, "other/vision")
    assert await nothing_stored(client, "acme-corp/vision")


async def test_a_revoked_token_is_refused_at_once(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    issued = await create_token(anonymous, admin_token, scopes=["runs:write"])
    headers = bearer(issued["access_token"])
    assert (await write_with(anonymous, headers, project="acme/before")).status_code == 200

    revoked = await anonymous.delete(f"/api/v2/tokens/{issued['token_id']}", headers=bearer(admin_token))

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False
    refused(await write_with(anonymous, headers), 401, "revoked")
    assert await nothing_stored(client)


async def test_every_write_route_needs_the_token(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    created = await client.post("/api/v1/output/", json=output_report())
    output_id = created.json()["id"]
    attempts = [
        ("PUT", f"/api/v1/output/{output_id}/", {"is_failed": True}),
        ("DELETE", f"/api/v1/output/{output_id}/", None),
        ("POST", "/api/v1/batch/", output_report()),
        ("POST", "/api/v1/commit/", output_report()),
        ("POST", "/api/v1/project/milestones", {"project": PROJECT, "key": "k", "milestone": {}}),
        ("DELETE", f"/api/v1/project/milestones?project={PROJECT}&key=k", None),
    ]
    for method, path, body in attempts:
        response = await anonymous.request(method, path, json=body)
        assert response.status_code == 401, f"{method} {path}: {response.text}"
    still = await client.get(f"/api/v1/output/{output_id}/")
    assert still.status_code == 200
    assert still.json()["is_failed"] is False
