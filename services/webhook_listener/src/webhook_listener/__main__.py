"""`webhook-listener` / `python -m webhook_listener`: serve the listener with uvicorn, configured from the
environment."""

from __future__ import annotations

import uvicorn

from qahub_shared.startup import start_service
from webhook_listener.config import Settings


def main() -> None:
    settings = start_service(Settings, program="webhook_listener")
    # imported once the settings are good: a mistake is reported at once, not after seconds of imports
    from webhook_listener.main import create_app

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
