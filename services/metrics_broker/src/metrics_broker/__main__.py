"""`metrics-broker` / `python -m metrics_broker`: serve the broker with uvicorn, configured from the
environment."""

from __future__ import annotations

import uvicorn

from metrics_broker.config import Settings
from metrics_broker.main import create_app
from qahub_shared.logging import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.metrics_broker_host,
        port=settings.metrics_broker_port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
