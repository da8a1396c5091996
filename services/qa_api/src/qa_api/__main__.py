"""`qa-api` / `python -m qa_api`: serve qa_api with uvicorn, configured from the environment."""

from __future__ import annotations

import uvicorn

from qa_api.config import Settings
from qa_api.main import create_app
from qahub_shared.logging import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
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
