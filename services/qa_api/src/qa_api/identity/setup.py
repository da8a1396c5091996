"""What the identity of qa_api is made of at startup: signing keys, the first admin, the revocation list."""

from __future__ import annotations

import asyncio
import logging
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import exc

from qa_api import db
from qa_api.config import DEV_ADMIN_PASSWORD, Settings
from qa_api.identity import service
from qa_api.identity.service import LoginLimits, TokenPolicy
from qahub_shared.auth.dependencies import Authenticator
from qahub_shared.auth.keys import SigningKey, generate_pem, load_signing_keys
from qahub_shared.auth.principal import Audience
from qahub_shared.auth.revocations import RevocationList
from qahub_shared.auth.tokens import StaticKeySet, TokenIssuer, TokenVerifier

logger = logging.getLogger(__name__)

BOOTSTRAP_RETRY_SECONDS = 5.0


class StartupError(RuntimeError):
    """A configuration qa_api refuses to start with."""


@dataclass(frozen=True)
class Identity:
    issuer: TokenIssuer
    policy: TokenPolicy
    limits: LoginLimits
    revocations: RevocationList
    authenticator: Authenticator


def _read_key_file(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("the signing key file %s is readable by other users: chmod 600 it", path)
    return path.read_text(encoding="ascii")


async def signing_keys(settings: Settings) -> list[SigningKey]:
    path = settings.jwt_signing_key_file
    if path is None:
        logger.warning(
            "*** QAHUB_JWT_SIGNING_KEY_FILE is not set: tokens are signed with a throwaway key and stop "
            "working when qa_api restarts. Fine for a try-out; production mode refuses it. ***"
        )
        return load_signing_keys(generate_pem())
    try:
        text = await asyncio.to_thread(_read_key_file, path)
        return load_signing_keys(text)
    except (OSError, ValueError) as error:
        raise StartupError(f"QAHUB_JWT_SIGNING_KEY_FILE={path}: {error}") from None


def build_identity(settings: Settings, keys: list[SigningKey], sessions: db.SessionFactory) -> Identity:
    issuer = TokenIssuer(keys, issuer=settings.jwt_issuer)

    async def revoked() -> list[str]:
        async with sessions() as session:
            return [str(token_id) for token_id in await service.revoked_token_ids(session)]

    revocations = RevocationList(revoked, interval_seconds=settings.revocation_refresh_seconds)
    verifier = TokenVerifier(
        StaticKeySet(issuer.public_keys), issuer=settings.jwt_issuer, audience=Audience.QA_API
    )
    return Identity(
        issuer=issuer,
        policy=TokenPolicy(
            session_ttl=timedelta(minutes=settings.session_ttl_minutes),
            default_ttl=timedelta(days=settings.token_default_ttl_days),
            max_ttl=timedelta(days=settings.token_max_ttl_days),
        ),
        limits=LoginLimits.per_minute(
            failures_per_account=settings.login_failures_per_account,
            attempts_per_address=settings.login_attempts_per_address,
        ),
        revocations=revocations,
        authenticator=Authenticator(verifier, revocations),
    )


async def bootstrap_admin(settings: Settings, sessions: db.SessionFactory) -> None:
    """Create the first admin when there is no user yet (raises StartupError when that is impossible)."""
    async with sessions() as session:
        if await service.has_users(session):
            return
        if settings.admin_password is None:
            if settings.is_production:
                raise StartupError(
                    "there is no user yet: set QAHUB_ADMIN_USERNAME and QAHUB_ADMIN_PASSWORD to create the "
                    "first admin"
                )
            password = DEV_ADMIN_PASSWORD
            logger.warning(
                "*** DEV MODE: creating the admin %r with the DEVELOPMENT password %r. Set "
                "QAHUB_ADMIN_PASSWORD (production mode refuses this default). ***",
                settings.admin_username,
                password,
            )
        else:
            password = settings.admin_password.get_secret_value()
        if await service.bootstrap_admin(session, username=settings.admin_username, password=password):
            logger.warning("created the first admin user %r", settings.admin_username)


_UNREACHABLE = (OSError, exc.OperationalError, exc.InterfaceError)


async def _bootstrap_admin_later(settings: Settings, sessions: db.SessionFactory) -> None:
    while True:
        await asyncio.sleep(BOOTSTRAP_RETRY_SECONDS)
        try:
            await bootstrap_admin(settings, sessions)
            return
        except _UNREACHABLE as error:
            logger.warning("cannot check for a first admin yet (database unreachable): %s", error)
        except StartupError as error:
            logger.critical("%s", error)
            return


async def start_bootstrap(settings: Settings, sessions: db.SessionFactory) -> asyncio.Task[None] | None:
    """Create the first admin now or, when the database is unreachable (qa_api starts without it), in a
    task that retries until it is reachable. Raises StartupError when the configuration cannot work."""
    try:
        await bootstrap_admin(settings, sessions)
    except _UNREACHABLE as error:
        logger.warning("cannot check for a first admin yet (database unreachable): %s", error)
        return asyncio.create_task(_bootstrap_admin_later(settings, sessions), name="bootstrap-admin")
    except exc.ProgrammingError as error:
        raise StartupError(f"the database is not migrated (run `make migrate`): {error.orig}") from None
    return None
