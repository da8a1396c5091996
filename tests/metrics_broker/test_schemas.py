"""`GET /schemas/{kind}` publishes, as JSON Schema, the rules `POST /` enforces: the samples pass it, and
payloads the broker refuses fail it."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from metrics_broker.tfa.kinds import KINDS
from tests.metrics_broker.conftest import tfa_fixture
from tests.metrics_broker.test_tfa_round_trip import tfm_payload
from tests.metrics_broker.test_validation import CASES

SAMPLES = {
    "tfa_code_churn": "code_churn.json",
    "tfa_complexity_tracking": "complexity_tracking.json",
    "tfa_defects_tracking": "defects_tracking.json",
    "tfa_image_size": "image_size.json",
}


async def schema(anonymous: httpx.AsyncClient, kind: str) -> dict[str, Any]:
    response = await anonymous.get(f"/schemas/{kind}")
    assert response.status_code == 200, response.text
    published: dict[str, Any] = response.json()
    jsonschema.Draft202012Validator.check_schema(published)
    return published


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_publishes_a_valid_json_schema_without_a_token(
    anonymous: httpx.AsyncClient, kind: str
) -> None:
    published = await schema(anonymous, kind)
    assert published["title"] == kind
    assert published["additionalProperties"] is False


@pytest.mark.parametrize(("kind", "sample"), list(SAMPLES.items()))
async def test_the_samples_satisfy_their_published_schema(
    anonymous: httpx.AsyncClient, kind: str, sample: str
) -> None:
    jsonschema.validate(tfa_fixture(sample), await schema(anonymous, kind))


async def test_a_tfm_payload_satisfies_its_published_schema(anonymous: httpx.AsyncClient) -> None:
    jsonschema.validate(tfm_payload(gerrit_id="1"), await schema(anonymous, "tfm_image_size"))


# the cases the published schema cannot express: JSON-level limits, what line protocol refuses inside a
# string, times (a string of any form), duplicate file stems; and a body that is not an object at all
NOT_IN_JSON_SCHEMA = {
    "too many points",
    "tag value ending with a backslash",
    "measurement starting with #",
    "integer beyond 64 bits",
    "time that is not a date",
    "tfm with a bad commit time",
    "tfm with two files of one name",
    "body is not an object",
}


@pytest.mark.parametrize(
    ("body", "loc"),
    [(case[1], case[2]) for case in CASES if case[0] not in NOT_IN_JSON_SCHEMA],
    ids=[case[0] for case in CASES if case[0] not in NOT_IN_JSON_SCHEMA],
)
async def test_payloads_the_broker_refuses_fail_the_published_schema(
    anonymous: httpx.AsyncClient, body: dict[str, Any], loc: list[str | int]
) -> None:
    metadata = body.get("metadata")
    kind = metadata.get("metrics") if isinstance(metadata, dict) else None
    published = await schema(anonymous, kind if kind in KINDS else "tfa_code_churn")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, published)


async def test_an_unknown_kind_is_a_404_naming_the_kinds(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/schemas/tfa_nope")

    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert all(kind in message for kind in KINDS)
