"""docker-compose.yml, read as Compose reads it (no Docker engine runs here): a `.env` written for
`make run` reaches the containers (`env_file`), so whatever the port mappings, health checks and volumes
rely on must be pinned in `environment:`, which wins over it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.servers import ROOT

COMPOSE = ROOT / "docker-compose.yml"

# service → (its port variable, the Dockerfile whose HEALTHCHECK probes that port)
SERVICES = {
    "qa_api": ("QAHUB_QA_API_PORT", "services/qa_api/Dockerfile"),
    "metrics_broker": ("QAHUB_METRICS_BROKER_PORT", "services/metrics_broker/Dockerfile"),
    "webhook_listener": ("QAHUB_WEBHOOK_PORT", "services/webhook_listener/Dockerfile"),
}


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_moved_port_in_dotenv_moves_no_container_port(name: str) -> None:
    service = compose_services()[name]
    variable, dockerfile = SERVICES[name]
    assert any(entry["path"] == ".env" for entry in service["env_file"])  # what makes the pin needed
    (mapping,) = service["ports"]
    container_port = mapping.rsplit(":", 1)[1]
    assert str(service["environment"].get(variable)) == container_port
    probed = re.search(r"HEALTHCHECK.*?127\.0\.0\.1:(\d+)/readyz", (ROOT / dockerfile).read_text(), re.S)
    assert probed is not None
    assert probed[1] == container_port


def test_dev_only_switches_and_local_paths_in_dotenv_do_not_reach_the_listener() -> None:
    services = compose_services()
    listener = services["webhook_listener"]["environment"]
    assert listener["QAHUB_WEBHOOK_ALLOW_FILE_URLS"] == "false"
    assert listener["QAHUB_DATA_DIR"] == "/var/lib/qahub"
    assert any(volume.endswith(":/var/lib/qahub") for volume in services["webhook_listener"]["volumes"])
    assert listener["QAHUB_WEBHOOK_MIRROR_DIR"] == ""
    # the listener and its migrations use Compose's database, whatever .env says
    assert listener["QAHUB_WEBHOOK_DATABASE_URL"] == ""
    assert services["webhook-migrate"]["environment"]["QAHUB_WEBHOOK_DATABASE_URL"] == ""
