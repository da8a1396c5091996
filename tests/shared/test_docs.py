"""Every service's documentation pages (`/docs`, `/redoc`) load everything from the service itself, below
its root path too, so they work offline: no CDN, no font service, no public validator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from metrics_broker.config import Settings as BrokerSettings
from metrics_broker.main import create_app as create_broker
from qa_api.config import Settings as QaApiSettings
from qa_api.main import create_app as create_qa_api
from qahub_shared.docs import install_docs
from qahub_shared.http import ConcurrencyLimitMiddleware
from webhook_listener.config import Settings as ListenerSettings
from webhook_listener.main import create_app as create_listener

# The pages and their assets need no lifespan: no database, no InfluxDB, no qa_api behind them.
SERVICES: dict[str, Callable[[], FastAPI]] = {
    "qa_api": lambda: create_qa_api(QaApiSettings(_env_file=None)),
    "metrics_broker": lambda: create_broker(BrokerSettings(_env_file=None)),
    "webhook_listener": lambda: create_listener(ListenerSettings(_env_file=None)),
}
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
# every URL a page names: attributes, and the spec URL Swagger UI's script is given
_URLS = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)'""")


def urls_in(html: str) -> list[str]:
    return [attribute or script for attribute, script in _URLS.findall(html)]


def expected_type(url: str) -> str:
    path = url.split("?")[0]
    return next(kind for ending, kind in CONTENT_TYPES.items() if path.endswith(ending))


@pytest.fixture(params=list(SERVICES))
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = SERVICES[request.param]()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc.test"
    ) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_a_docs_page_names_only_the_services_own_urls_and_each_answers(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "://" not in response.text  # nothing from another origin, whatever the attribute
    urls = urls_in(response.text)
    assert len(urls) >= 3, urls  # a script, an icon, the OpenAPI document (and Swagger UI's styles)
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(expected_type(url)), url


async def test_the_pages_assets_are_cached_for_a_year_and_unknown_ones_are_404(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    [script] = [url for url in urls_in(page.text) if url.endswith("swagger-ui-bundle.js")]

    asset = await client.get(script)
    unknown = await client.get(script.replace("swagger-ui-bundle.js", "other.js"))
    other_version = await client.get(re.sub(r"/assets/[^/]+/", "/assets/0.0.0/", script))

    assert "max-age=31536000" in asset.headers["cache-control"]
    assert "SwaggerUIBundle" in asset.text
    for refused in (unknown, other_version):
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"


async def test_behind_a_root_path_the_pages_name_urls_below_it() -> None:
    app = SERVICES["metrics_broker"]()
    transport = httpx.ASGITransport(app=app, root_path="/broker")
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        page = await client.get("/broker/docs")
        urls = urls_in(page.text)
        answers = [await client.get(url) for url in urls]

    assert page.status_code == 200
    assert urls
    assert all(url.startswith("/broker/") for url in urls), urls
    assert [answer.status_code for answer in answers] == [200] * len(urls)


async def test_the_pages_assets_are_served_past_the_concurrency_cap() -> None:
    def docs_app(*, max_requests: int | None = None) -> FastAPI:
        app = FastAPI()
        install_docs(app)
        if max_requests is not None:
            app.add_middleware(ConcurrencyLimitMiddleware, max_requests=max_requests, body_timeout_seconds=30)
        return app

    async def get(app: FastAPI, url: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            return await client.get(url)

    [script] = [url for url in urls_in((await get(docs_app(), "/docs")).text) if url.endswith(".js")]
    full = docs_app(max_requests=0)  # every place taken

    page = await get(full, "/docs")
    asset = await get(full, script)

    assert page.status_code == 503  # the page counts, as any request does
    assert asset.status_code == 200
