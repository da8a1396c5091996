"""Behind a proxy: `QAHUB_FORWARDED_ALLOW_IPS` names the proxies whose `X-Forwarded-For` the real service
process believes, so the login limit per address counts each client, not the proxy.

The tests' requests come from 127.0.0.1: as an allowed proxy, or as a peer that is not one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.qa_api.e2e.qa_api_process import running_qa_api
from tests.servers import fresh_database, migrate

# one login per minute and address: a second one from the same address is a 429
ONE_LOGIN_PER_ADDRESS = {"QAHUB_LOGIN_ATTEMPTS_PER_ADDRESS": "1"}


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, prefix="qahub_proxy") as url:
        migrate(url)
        yield url


def failed_logins(url: str, *, forwarded_for: list[str]) -> list[int]:
    """The status of a failed login per client address a proxy forwards (another user each time, so only
    the limit per address can refuse one)."""
    statuses = []
    for number, client in enumerate(forwarded_for):
        answer = httpx.post(
            f"{url}/api/v2/auth/login",
            json={"username": f"nobody-{number}", "password": "not-the-password"},
            headers={"X-Forwarded-For": client},
            timeout=30,
            trust_env=False,
        )
        statuses.append(answer.status_code)
    return statuses


def test_behind_an_allowed_proxy_each_forwarded_client_has_a_login_limit_of_its_own(
    database_url: str, tmp_path: Path
) -> None:
    settings = {**ONE_LOGIN_PER_ADDRESS, "QAHUB_FORWARDED_ALLOW_IPS": "192.0.2.10, 127.0.0.0/8"}
    with running_qa_api(database_url, tmp_path, settings=settings) as server:
        statuses = failed_logins(server.url, forwarded_for=["203.0.113.1", "203.0.113.2"])
        again = failed_logins(server.url, forwarded_for=["203.0.113.1"])

    assert statuses == [401, 401]
    assert again == [429]


def test_a_peer_not_in_forwarded_allow_ips_is_counted_as_itself_whatever_it_forwards(
    database_url: str, tmp_path: Path
) -> None:
    settings = {**ONE_LOGIN_PER_ADDRESS, "QAHUB_FORWARDED_ALLOW_IPS": "192.0.2.10"}
    with running_qa_api(database_url, tmp_path, settings=settings) as server:
        statuses = failed_logins(server.url, forwarded_for=["203.0.113.1", "203.0.113.2"])

    assert statuses == [401, 429]
