"""The kinds a payload may name: TF-A's (built in) and the custom ones, cached from PostgreSQL.

    kinds(name)  name is TF-A's ──────────────▶ at once, PostgreSQL untouched (TF-A's path never waits)
                 cache fresh and name known ──▶ at once
                 otherwise ───────────────────▶ reload (at most once per second for unknown names,
                                                 shared by concurrent requests), then answer
                 reload fails ────────────────▶ the cached kinds if the name is among them, else 503

Created and deleted kinds show in this process at once; another broker sharing the database sees them
within `QAHUB_KINDS_REFRESH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from metrics_broker.kinds.repository import KindRepository
from metrics_broker.kinds.schemas import FieldType, KindCreate, KindPublic
from metrics_broker.tfa.kinds import KINDS, Kind, PointShape, ValueType
from qahub_shared.auth.principal import Principal, Scope
from qahub_shared.errors import Conflict, ErrorDetail, Forbidden, InvalidInput, NotFound, ServiceUnavailable

# a name nobody registered makes at most one query per this many seconds
UNKNOWN_RELOAD_SECONDS = 1.0

_VALUE_TYPES = {
    FieldType.INT: ValueType.INTEGER,
    FieldType.FLOAT: ValueType.FLOAT,
    FieldType.STRING: ValueType.STRING,
    FieldType.BOOL: ValueType.BOOLEAN,
}


def as_kind(kind: KindPublic) -> Kind:
    """A registered kind, as validation checks it."""
    shape = PointShape(
        tags=dict.fromkeys(kind.tags, ValueType.STRING),
        fields={name: _VALUE_TYPES[rule.type] for name, rule in kind.fields.items()},
        time_required=kind.time_required,
        optional_tags=frozenset(name for name, rule in kind.tags.items() if not rule.required),
        optional_fields=frozenset(name for name, rule in kind.fields.items() if not rule.required),
        measurements=frozenset(kind.measurements),
    )
    return Kind(
        name=kind.name,
        family="",
        description=kind.description or f"A custom kind of {kind.project}.",
        shape=shape,
        database=kind.database,
        project=kind.project,
    )


def authorize(caller: Principal, kind: Kind) -> None:
    """A token writes TF-A's kinds with `metrics:write` alone; a custom kind only when its project
    restriction (if any) admits the kind's project. 403 otherwise."""
    caller.require(Scope.METRICS_WRITE)
    if kind.project is not None and not caller.can_see(kind.project):
        raise Forbidden(
            f"This token may not write the kind {kind.name!r}: it belongs to the project {kind.project!r}, "
            f"and the token is restricted to {', '.join(caller.projects or ())}.",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="metrics:write"'},
        )


class KindRegistry:
    def __init__(
        self, repository: KindRepository, *, tfa_databases: Mapping[str, str], refresh_seconds: float
    ) -> None:
        self._repository = repository
        self._tfa_databases = frozenset(tfa_databases.values())
        self._refresh = refresh_seconds
        self._custom: dict[str, KindPublic] = {}
        self._all: dict[str, Kind] = dict(KINDS)
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def kinds(self, wanted: str | None) -> Mapping[str, Kind]:
        """Every kind, fresh enough to check a payload naming `wanted`; see the module docstring."""
        if wanted in KINDS:
            return self._all
        now = time.monotonic()
        if self._loaded_at is not None:
            age = now - self._loaded_at
            known = wanted in self._custom
            if age < self._refresh and (known or age < UNKNOWN_RELOAD_SECONDS):
                return self._all
        try:
            await self._reload(now)
        except ServiceUnavailable:
            if wanted not in self._custom and wanted is not None:
                raise
        return self._all

    async def _reload(self, asked_at: float) -> None:
        async with self._lock:
            if self._loaded_at is not None and self._loaded_at >= asked_at:
                return  # another request reloaded while this one waited
            started = time.monotonic()
            self._remember(await self._repository.all())
            self._loaded_at = started

    def _remember(self, kinds: list[KindPublic]) -> None:
        self._custom = {kind.name: kind for kind in kinds}
        self._all = {**KINDS, **{kind.name: as_kind(kind) for kind in kinds}}

    async def list(self) -> list[KindPublic]:
        kinds = await self._repository.all()
        self._remember(kinds)
        self._loaded_at = time.monotonic()
        return kinds

    async def get(self, name: str) -> KindPublic:
        if name in KINDS:
            raise NotFound(f"{name!r} is one of TF-A's built-in kinds: its rules are at GET /schemas/{name}.")
        await self.kinds(name)
        found = self._custom.get(name)
        if found is None:
            raise NotFound(f"No custom kind {name[:64]!r}.")
        return found

    async def create(self, kind: KindCreate, *, created_by: str) -> KindPublic:
        if kind.name in KINDS:
            raise Conflict(f"{kind.name!r} is one of TF-A's built-in kinds; it cannot be redefined.")
        if kind.database in self._tfa_databases:
            raise InvalidInput(
                f"database: {kind.database!r} holds TF-A's kinds; a custom kind needs a database of its own.",
                details=[ErrorDetail(loc=["body", "database"], message="is one of TF-A's databases")],
            )
        created = await self._repository.create(kind, created_by=created_by)
        self._remember([*self._custom.values(), created])
        return created

    async def delete(self, name: str, *, check_project: Callable[[str], None]) -> None:
        """Delete a custom kind; `check_project` raises when the caller may not delete in its project."""
        if name in KINDS:
            raise Conflict(f"{name!r} is one of TF-A's built-in kinds; it cannot be deleted.")
        if not await self._repository.delete(name, check_project=check_project):
            raise NotFound(f"No custom kind {name[:64]!r}.")
        self._remember([kind for kind in self._custom.values() if kind.name != name])
