"""`qa-api` / `python -m qa_api`: serve qa_api with uvicorn, configured from the environment."""

from __future__ import annotations

import uvicorn

from qa_api.config import Settings
from qahub_shared.startup import start_service


def main() -> None:
    settings = start_service(Settings, program="qa_api")
    # imported once the settings are good: a mistake is reported at once, not after seconds of imports
    from qa_api.main import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.qa_api_host,
        port=settings.qa_api_port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
