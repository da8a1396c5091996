"""`webhook-listener` / `python -m webhook_listener`: serve the listener with uvicorn, configured from the
environment."""

from __future__ import annotations

import uvicorn

from qahub_shared.logging import configure_logging
from webhook_listener.config import Settings
from webhook_listener.main import create_app


def main() -> None:
    settings = Settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.webhook_host,
        port=settings.webhook_port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
