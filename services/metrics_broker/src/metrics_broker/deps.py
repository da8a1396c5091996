"""Request dependencies: what the lifespan built, typed. `async def`, though they never wait: FastAPI runs a
plain `def` dependency in a worker thread, a thread hop per dependency per request (a tenth of the
broker's CPU per payload, measured with py-spy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from metrics_broker.config import Settings
from metrics_broker.identity.service import IdentityIssuer
from metrics_broker.influx.writer import PointWriter
from metrics_broker.kinds.service import KindRegistry
from metrics_broker.points.service import PointsService


async def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _writer(request: Request) -> PointWriter:
    writer: PointWriter = request.state.writer
    return writer


async def _issuer(request: Request) -> IdentityIssuer:
    issuer: IdentityIssuer = request.state.issuer
    return issuer


async def _registry(request: Request) -> KindRegistry:
    registry: KindRegistry = request.state.registry
    return registry


async def _points(request: Request) -> PointsService:
    points: PointsService = request.state.points
    return points


SettingsDep = Annotated[Settings, Depends(_settings)]
WriterDep = Annotated[PointWriter, Depends(_writer)]
IssuerDep = Annotated[IdentityIssuer, Depends(_issuer)]
RegistryDep = Annotated[KindRegistry, Depends(_registry)]
PointsDep = Annotated[PointsService, Depends(_points)]
