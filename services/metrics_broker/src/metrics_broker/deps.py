"""Request dependencies: what the lifespan built, typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from metrics_broker.config import Settings
from metrics_broker.identity.service import IdentityIssuer
from metrics_broker.influx.writer import PointWriter


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _writer(request: Request) -> PointWriter:
    writer: PointWriter = request.state.writer
    return writer


def _issuer(request: Request) -> IdentityIssuer:
    issuer: IdentityIssuer = request.state.issuer
    return issuer


SettingsDep = Annotated[Settings, Depends(_settings)]
WriterDep = Annotated[PointWriter, Depends(_writer)]
IssuerDep = Annotated[IdentityIssuer, Depends(_issuer)]
