"""The API documentation pages, Swagger UI (`/docs`) and ReDoc (`/redoc`), served with their scripts,
styles and icon from the service itself: QA Hub is self-hosted and may run offline, so the pages load
nothing from a CDN (FastAPI's own pages load Swagger UI and ReDoc from jsdelivr).

The assets are the Swagger UI 5 and ReDoc 2 bundles the `fastapi-offline` package ships. They are served
at `/docs/assets/<that package's version>/<file>`: a new version is a new URL, so browsers may keep them
for a year. Every URL a page names is the service's own, below the `root_path` a proxy mounts it under.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from qahub_shared.errors import NotFound

ASSETS_PREFIX = "/docs/assets/"
"""Where the pages' assets are served: the concurrency cap does not count these requests."""

_VERSION = importlib.metadata.version("fastapi-offline")
_FOLDER = Path(fastapi_offline.__file__).parent / "static"
_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_CACHED_FOR_A_YEAR = {"Cache-Control": "public, max-age=31536000, immutable"}


def _asset_url(request: Request, name: str) -> str:
    return f"{_root(request)}{ASSETS_PREFIX}{_VERSION}/{name}"


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if request.path_params["version"] != _VERSION or name not in _MEDIA_TYPES:
        raise NotFound(f"No documentation asset {request.url.path}.")
    # read in a worker thread, chunk by chunk, by Starlette
    return FileResponse(_FOLDER / name, media_type=_MEDIA_TYPES[name], headers=_CACHED_FOR_A_YEAR)


def install_docs(app: FastAPI) -> None:
    """Serve `app.docs_url` (Swagger UI) and `app.redoc_url` (ReDoc), when set, in place of FastAPI's
    pages, with their assets at `ASSETS_PREFIX`. FastAPI's OAuth2 redirect page stays: it loads nothing."""
    openapi_url = app.openapi_url

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        redirect = app.swagger_ui_oauth2_redirect_url
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect}" if redirect else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url=_asset_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=_asset_url(request, "swagger-ui.css"),
            swagger_favicon_url=_asset_url(request, "favicon.png"),
            # no badge from the public validator (validator.swagger.io): nothing leaves the page
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{_root(request)}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=_asset_url(request, "redoc.standalone.js"),
            redoc_favicon_url=_asset_url(request, "favicon.png"),
            with_google_fonts=False,
        )

    pages = {
        url: page for url, page in [(app.docs_url, swagger_ui), (app.redoc_url, redoc)] if url and openapi_url
    }
    routes = app.router.routes
    for index, route in enumerate(routes):
        # FastAPI's pages, replaced where they stand
        if isinstance(route, Route) and route.path in pages:
            routes[index] = Route(route.path, pages[route.path], include_in_schema=False)
    app.router.routes.append(
        Route(f"{ASSETS_PREFIX}{{version}}/{{name}}", _asset, methods=["GET"], include_in_schema=False)
    )
