"""What qa_api refuses to start with, the first admin, and signing keys that rotate without downtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from qa_api.config import DEV_ADMIN_PASSWORD, Settings
from qa_api.identity.setup import StartupError
from qa_api.main import create_app
from qahub_shared.auth.keys import generate_pem, load_signing_keys
from qahub_shared.auth.tokens import TokenIssuer
from qahub_shared.settings import Environment
from tests.qa_api.identity.helpers import ADMIN_PASSWORD, bearer, grant, jwt_header
from tests.servers import fresh_database, migrate

PRODUCTION_DB = "postgresql://qahub:s3cret@db.internal:5432/qahub"


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {"env": "production", "database_url": PRODUCTION_DB} | overrides
    return Settings.model_validate(values)


def test_production_refuses_to_start_without_a_signing_key() -> None:
    with pytest.raises(ValidationError, match="QAHUB_JWT_SIGNING_KEY_FILE"):
        production()


@pytest.mark.parametrize("password", [DEV_ADMIN_PASSWORD, "short"], ids=["dev-default", "too-short"])
def test_production_refuses_a_weak_admin_password(tmp_path: Path, password: str) -> None:
    with pytest.raises(ValidationError, match="QAHUB_ADMIN_PASSWORD"):
        production(jwt_signing_key_file=tmp_path / "key.pem", admin_password=password)


def test_production_closes_reads_unless_told_otherwise(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    assert production(jwt_signing_key_file=key).reads_are_open is False
    assert production(jwt_signing_key_file=key, open_reads=True).reads_are_open is True
    assert Settings().reads_are_open is True


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Docker Compose passes `QAHUB_ADMIN_PASSWORD=` when .env leaves it empty
    monkeypatch.setenv("QAHUB_ADMIN_PASSWORD", "")
    monkeypatch.setenv("QAHUB_OPEN_READS", "")
    settings = Settings()
    assert settings.admin_password is None
    assert settings.open_reads is None


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, prefix="qahub_bootstrap") as url:
        migrate(url)
        yield url


async def test_production_without_users_and_without_an_admin_password_refuses_to_start(
    empty_database: str, signing_key_file: Path
) -> None:
    settings = Settings(
        env=Environment.PRODUCTION, database_url=empty_database, jwt_signing_key_file=signing_key_file
    )
    with pytest.raises(StartupError, match="QAHUB_ADMIN_PASSWORD"):
        async with LifespanManager(create_app(settings)):
            pass


async def test_dev_mode_creates_the_default_admin_and_says_so_loudly(
    empty_database: str, signing_key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=empty_database, jwt_signing_key_file=signing_key_file)
    with caplog.at_level(logging.WARNING, logger="qa_api"):
        async with LifespanManager(create_app(settings)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as client:
                login = await client.post(
                    "/api/v2/auth/login", json={"username": "admin", "password": DEV_ADMIN_PASSWORD}
                )

    assert login.status_code == 200, login.text
    assert any("DEVELOPMENT password" in record.getMessage() for record in caplog.records)


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize("content", ["", "not a key", "RSA"], ids=["empty", "garbage", "rsa-key"])
async def test_an_unusable_signing_key_file_stops_the_start(
    settings: Settings, tmp_path: Path, content: str
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(_rsa_pem() if content == "RSA" else content)
    with pytest.raises(StartupError, match="QAHUB_JWT_SIGNING_KEY_FILE"):
        async with LifespanManager(
            create_app(settings.model_copy(update={"jwt_signing_key_file": key_file}))
        ):
            pass


@pytest.fixture
def rotation(tmp_path: Path, signing_key_file: Path) -> tuple[Path, str, str]:
    """Step 2 of a rotation: a key file where a new key signs and the old one (second) still verifies."""
    old, new = signing_key_file.read_text(), generate_pem()
    rotated = tmp_path / "rotated.pem"
    rotated.write_text(new + old)
    return rotated, old, new


async def test_keys_rotate_without_downtime(settings: Settings, rotation: tuple[Path, str, str]) -> None:
    rotated, old, new = rotation
    old_token = TokenIssuer(load_signing_keys(old), issuer="qahub").issue(grant())
    app = create_app(settings.model_copy(update={"jwt_signing_key_file": rotated}))

    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as client:
            published = (await client.get("/.well-known/jwks.json")).json()["keys"]
            still_valid = await client.get("/api/v2/auth/whoami", headers=bearer(old_token))
            login = await client.post(
                "/api/v2/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )

    new_kid, old_kid = load_signing_keys(new)[0].kid, load_signing_keys(old)[0].kid
    assert [key["kid"] for key in published] == [new_kid, old_kid]
    assert all(set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"} for key in published)  # no "d"
    assert still_valid.status_code == 200, still_valid.text
    assert login.status_code == 200, login.text
    assert jwt_header(login.json()["access_token"])["kid"] == new_kid
