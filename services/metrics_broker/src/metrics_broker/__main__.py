"""`metrics-broker` / `python -m metrics_broker`: serve the broker with uvicorn, configured from the
environment."""

from __future__ import annotations

import uvicorn

from metrics_broker.config import Settings
from qahub_shared.startup import start_service


def main() -> None:
    settings = start_service(Settings, program="metrics_broker")
    # imported once the settings are good: a mistake is reported at once, not after seconds of imports
    from metrics_broker.main import create_app

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
