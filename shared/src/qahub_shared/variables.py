"""Every `QAHUB_` variable of a QA Hub deployment, and the names given that are none of them.

One catalog for the whole deployment, not one per service: the services share one `.env` (and Compose
passes it to every container), so a variable only another service, the `qahub` CLI, `make run`, the
tests or Compose reads is not a mistake. The tests pin the catalog to the settings classes, to README.md's
configuration tables and to the scripts that use the variables.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PREFIX = "QAHUB_"

# The services' settings classes (qahub_shared.settings' fragments and each service's config.py).
SERVICES = (
    "QAHUB_ENV",
    "QAHUB_LOG_LEVEL",
    "QAHUB_LOG_JSON",
    "QAHUB_MAX_BODY_BYTES",
    "QAHUB_MAX_CONCURRENT_REQUESTS",
    "QAHUB_BODY_TIMEOUT_SECONDS",
    "QAHUB_FORWARDED_ALLOW_IPS",
    "QAHUB_DATABASE_URL",
    "QAHUB_DATABASE_POOL_SIZE",
    "QAHUB_DATABASE_STATEMENT_TIMEOUT_MS",
    "QAHUB_JWT_ISSUER",
    "QAHUB_REVOCATION_REFRESH_SECONDS",
    "QAHUB_API_URL",
    "QAHUB_DATA_DIR",
)
QA_API = (
    "QAHUB_QA_API_HOST",
    "QAHUB_QA_API_PORT",
    "QAHUB_ADMIN_USERNAME",
    "QAHUB_ADMIN_PASSWORD",
    "QAHUB_JWT_SIGNING_KEY_FILE",
    "QAHUB_SESSION_TTL_MINUTES",
    "QAHUB_TOKEN_DEFAULT_TTL_DAYS",
    "QAHUB_TOKEN_MAX_TTL_DAYS",
    "QAHUB_OPEN_READS",
    "QAHUB_LOGIN_FAILURES_PER_ACCOUNT",
    "QAHUB_LOGIN_ATTEMPTS_PER_ADDRESS",
)
METRICS_BROKER = (
    "QAHUB_METRICS_BROKER_HOST",
    "QAHUB_METRICS_BROKER_PORT",
    "QAHUB_INFLUX_URL",
    "QAHUB_INFLUX_USERNAME",
    "QAHUB_INFLUX_PASSWORD",
    "QAHUB_INFLUX_WRITE_TIMEOUT_SECONDS",
    "QAHUB_INFLUX_DATABASES",
    "QAHUB_GROUP_COMMIT_MS",
    "QAHUB_GROUP_COMMIT_MAX_POINTS",
    "QAHUB_MAX_POINTS_PER_REQUEST",
    "QAHUB_AUTH_TOKEN_TTL_HOURS",
    "QAHUB_KINDS_REFRESH_SECONDS",
    "QAHUB_IDEMPOTENCY_KEY_HOURS",
    "QAHUB_SPOOL_BATCH_SIZE",
    "QAHUB_SPOOL_RETRY_MIN_SECONDS",
    "QAHUB_SPOOL_RETRY_MAX_SECONDS",
    "QAHUB_SPOOL_TIMEOUT_SECONDS",
)
WEBHOOK_LISTENER = (
    "QAHUB_WEBHOOK_HOST",
    "QAHUB_WEBHOOK_PORT",
    "QAHUB_WEBHOOK_DATABASE_URL",
    "QAHUB_WEBHOOK_MIRROR_DIR",
    "QAHUB_WEBHOOK_ALLOWED_CLONE_URL_PREFIXES",
    "QAHUB_WEBHOOK_ALLOW_FILE_URLS",
    "QAHUB_WEBHOOK_QA_API_TOKEN",
    "QAHUB_WEBHOOK_WORKERS",
    "QAHUB_WEBHOOK_POLL_SECONDS",
    "QAHUB_WEBHOOK_BATCH_SECONDS",
    "QAHUB_WEBHOOK_RETRY_MIN_SECONDS",
    "QAHUB_WEBHOOK_RETRY_MAX_SECONDS",
    "QAHUB_WEBHOOK_MAX_GIT_ATTEMPTS",
    "QAHUB_WEBHOOK_RETENTION_DAYS",
    "QAHUB_WEBHOOK_RECONCILE_SECONDS",
    "QAHUB_WEBHOOK_NEW_REF_MAX_COMMITS",
    "QAHUB_WEBHOOK_GIT_TIMEOUT_SECONDS",
)
# The `qahub` CLI (cli/); it also reads QAHUB_API_URL and the services' host and port variables.
CLI = ("QAHUB_TOKEN", "QAHUB_CONFIG_DIR", "QAHUB_WEBHOOK_URL")
# `make run` (deploy/local/*.sh); it also reads QAHUB_DATA_DIR.
MAKE_RUN = ("QAHUB_PG_PORT", "QAHUB_PG_FSYNC", "QAHUB_INFLUX_PORT")
# The test suite and the benchmarks (tests/servers.py).
TESTS = ("QAHUB_TEST_DATABASE_URL", "QAHUB_TEST_INFLUX_URL")
# docker-compose.yml, which passes .env to every container, and Grafana's provisioning (deploy/grafana).
COMPOSE = (
    "QAHUB_POSTGRES_PASSWORD",
    "QAHUB_QA_API_PUBLISH",
    "QAHUB_METRICS_BROKER_PUBLISH",
    "QAHUB_WEBHOOK_PUBLISH",
    "QAHUB_GRAFANA_PUBLISH",
    "QAHUB_GRAFANA_INFLUX_URL",
    "QAHUB_GRAFANA_INFLUX_USER",
    "QAHUB_GRAFANA_INFLUX_PASSWORD",
)

KNOWN_VARIABLES = frozenset(
    SERVICES + QA_API + METRICS_BROKER + WEBHOOK_LISTENER + CLI + MAKE_RUN + TESTS + COMPOSE
)


@dataclass(frozen=True, slots=True)
class UnknownVariable:
    """A `QAHUB_` name set somewhere that nothing of QA Hub reads."""

    name: str
    sources: tuple[str, ...]
    """Where it is set: `the environment`, a `.env` file's name, or both."""
    suggestion: str | None
    """The closest known name, when one is close."""

    def __str__(self) -> str:
        where = " and ".join(self.sources)
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"unknown variable {self.name} (in {where}){hint}"


def unknown_variables(sources: Mapping[str, Iterable[str]]) -> list[UnknownVariable]:
    """The `QAHUB_` names of `sources` (where → names set there) outside the catalog, in name order.

    Names compare without regard to case, as the services' settings read them.
    """
    found: dict[str, list[str]] = {}
    for where, names in sources.items():
        for name in names:
            if name.upper().startswith(PREFIX) and name.upper() not in KNOWN_VARIABLES:
                found.setdefault(name, []).append(where)
    return [
        UnknownVariable(name=name, sources=tuple(dict.fromkeys(where)), suggestion=closest_known(name))
        for name, where in sorted(found.items())
    ]


def closest_known(name: str) -> str | None:
    """The known name most like `name`, if any is close enough to be what was meant."""
    # Compared without the prefix every name shares, which would make any two names look alike.
    wanted = name.upper().removeprefix(PREFIX)
    matches = difflib.get_close_matches(wanted, sorted(_BY_SUFFIX), n=1)
    return _BY_SUFFIX[matches[0]] if matches else None


_BY_SUFFIX = {name.removeprefix(PREFIX): name for name in KNOWN_VARIABLES}
