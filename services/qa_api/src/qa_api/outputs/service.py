"""Outputs: the lifecycle of one run (queued → running → finished or failed), and reading runs back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.commits import repository as commits_repository
from qa_api.commits.service import CommitSeen, ensure_commit
from qa_api.db import Database
from qa_api.models import OutputStatus, TestInput
from qa_api.outputs import repository
from qa_api.outputs.known import KnownRows
from qa_api.outputs.repository import OutputRow, OutputWrite
from qahub_shared.errors import Conflict, NotFound


def run_key(platform: str, configurations: list[Any], extra_parameters: dict[str, Any]) -> str:
    """A digest of what makes two runs of the same input in the same batch different runs."""
    canonical = json.dumps(
        [platform, configurations, extra_parameters], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def status_of(*, is_pending: bool, is_running: bool, is_failed: bool | None) -> OutputStatus:
    """QA-Board's three flags, as one status."""
    if is_running:
        return OutputStatus.RUNNING
    if is_pending:
        return OutputStatus.QUEUED
    return OutputStatus.FAILED if is_failed else OutputStatus.FINISHED


class Flags(NamedTuple):
    is_pending: bool
    is_running: bool
    is_failed: bool


def flags_of(status: str) -> Flags:
    """One status, as QA-Board's three flags (the inverse of `status_of`)."""
    return Flags(
        is_pending=status in (OutputStatus.QUEUED, OutputStatus.RUNNING),
        is_running=status == OutputStatus.RUNNING,
        is_failed=status == OutputStatus.FAILED,
    )


@dataclass(frozen=True)
class RunReport:
    """What a client reports about one run at one point of its lifecycle."""

    batch_label: str
    database: str
    input_path: str
    input_metadata: dict[str, Any] | None
    platform: str
    configurations: list[Any]
    extra_parameters: dict[str, Any]
    status: OutputStatus
    # None while queued or running: the previous results (if any) stay until the run ends
    metrics: dict[str, Any] | None
    data: dict[str, Any]
    output_type: str | None
    output_dir: str | None
    job_type: str | None


async def record_run(database: Database, seen: CommitSeen, report: RunReport, known: KnownRows) -> OutputRow:
    """Create or update the run (and its project, commit, batch and input) in one transaction.

    Once this process has seen them all committed (`known`), the run is one statement of its own; any
    2xx answer means that it is committed.
    """
    keys = _RowKeys(seen, report)
    commit_id, batch_id = known.get(keys.commit), known.get(keys.batch)
    test_input = known.get(keys.test_input)
    if (
        commit_id is not None
        and batch_id is not None
        and test_input is not None
        and known.has_all(keys.refs)
        and not (report.input_metadata and test_input.metadata_ != report.input_metadata)
    ):
        try:
            async with database.driver_connection() as connection:
                return await repository.write_output_now(
                    connection, _write(commit_id, batch_id, test_input, report)
                )
        except asyncpg.IntegrityConstraintViolationError:
            # A remembered row was deleted since (every write is an upsert): forget, look up again.
            known.forget_all()
    async with database.sessions() as session:
        try:
            return await _record_run(session, seen, report, known)
        except IntegrityError:
            await session.rollback()
            known.forget_all()
            return await _record_run(session, seen, report, known)


class _RowKeys:
    """What `KnownRows` remembers a run's commit, refs, batch and test input under."""

    def __init__(self, seen: CommitSeen, report: RunReport) -> None:
        self.commit: Hashable = ("commit", seen.project_id, seen.sha)
        self.batch: Hashable = ("batch", seen.project_id, seen.sha, report.batch_label)
        self.test_input: Hashable = ("test_input", report.database, report.input_path)
        self.refs: list[Hashable] = [
            ("ref", seen.project_id, seen.sha, kind, name) for kind, name in seen.refs
        ]


def _write(commit_id: int, batch_id: int, test_input: TestInput, report: RunReport) -> OutputWrite:
    results = None
    if report.metrics is not None:
        params = report.data.get("params")
        results = {"metrics": report.metrics, "params": params if isinstance(params, dict) else {}}
    storage = report.data.get("storage")
    return OutputWrite(
        commit_id=commit_id,
        batch_id=batch_id,
        test_input=test_input,
        run_key=run_key(report.platform, report.configurations, report.extra_parameters),
        platform=report.platform,
        configurations=report.configurations,
        extra_parameters=report.extra_parameters,
        status=report.status,
        results=results,
        data=report.data,
        output_type=report.output_type,
        output_dir=report.output_dir,
        job_type=report.job_type,
        storage_size=storage if isinstance(storage, int) and not isinstance(storage, bool) else None,
    )


async def _record_run(
    session: AsyncSession, seen: CommitSeen, report: RunReport, known: KnownRows
) -> OutputRow:
    keys = _RowKeys(seen, report)
    learned: dict[Hashable, Any] = {}
    async with session.begin():
        commit_id = known.get(keys.commit)
        if commit_id is None or not known.has_all(keys.refs):
            commit = await ensure_commit(session, seen)
            commit_id = commit.id
            learned |= {keys.commit: commit_id} | dict.fromkeys(keys.refs, True)
        batch_id = known.get(keys.batch)
        if batch_id is None:
            batch = await commits_repository.get_or_create_batch(
                session, commit_id, report.batch_label, data={"type": report.job_type}
            )
            batch_id = learned[keys.batch] = batch.id
        test_input = known.get(keys.test_input)
        if test_input is None or (report.input_metadata and test_input.metadata_ != report.input_metadata):
            test_input = learned[keys.test_input] = await repository.get_or_create_test_input(
                session, report.database, report.input_path, report.input_metadata
            )
        output = await repository.write_output(session, _write(commit_id, batch_id, test_input, report))
    known.remember(learned)
    return output


async def get_output(session: AsyncSession, output_id: int, *, lock: bool = False) -> OutputRow:
    row = await repository.get_output(session, output_id, lock=lock)
    if row is None:
        raise NotFound(f"No output {output_id}.")
    return row


@dataclass(frozen=True)
class OutputChanges:
    """A partial update: flags given are set, metrics and data are merged into the stored ones."""

    is_pending: bool | None = None
    is_running: bool | None = None
    is_failed: bool | None = None
    metrics: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


async def update_output(session: AsyncSession, output_id: int, changes: OutputChanges) -> OutputRow:
    async with session.begin():
        output = await get_output(session, output_id, lock=True)
        current = flags_of(output.status)
        status = status_of(
            is_pending=_default(changes.is_pending, current.is_pending),
            is_running=_default(changes.is_running, current.is_running),
            is_failed=_default(changes.is_failed, current.is_failed),
        )
        values: dict[str, Any] = {"status": status.value}
        if changes.metrics is not None:
            values["metrics"] = {**output.metrics, **changes.metrics}
        if changes.data is not None:
            values["data"] = {**output.data, **changes.data}
        await repository.update_output(session, output_id, **values)
        await commits_repository.mark_changed(session, [output.batch_id])
        row = await repository.get_output(session, output_id)
        assert row is not None
    return row


def _default(value: bool | None, current: bool) -> bool:
    return current if value is None else value


async def delete_output(session: AsyncSession, output_id: int) -> None:
    """Forget a finished run (its files on disk are the storage's business, not ours)."""
    async with session.begin():
        row = await get_output(session, output_id, lock=True)
        if flags_of(row.status).is_pending:
            raise Conflict(f"Output {output_id} is still {row.status}: wait until it ends.")
        await repository.delete_output(session, output_id)
        await commits_repository.mark_changed(session, [row.batch_id])


async def page_of_outputs(
    session: AsyncSession,
    batch_id: int,
    *,
    after: int | None,
    limit: int,
    status: OutputStatus | None,
) -> list[OutputRow]:
    if await commits_repository.get_batch_by_id(session, batch_id) is None:
        raise NotFound(f"No batch {batch_id}.")
    return await repository.page_of_outputs(session, batch_id, after=after, limit=limit, status=status)


async def project_of_output(session: AsyncSession, output_id: int) -> str:
    """The project an output belongs to (what access to it is decided on)."""
    async with session.begin():
        project = await repository.project_of_output(session, output_id)
    if project is None:
        raise NotFound(f"No output {output_id}.")
    return project


async def project_of_batch(session: AsyncSession, batch_id: int) -> str:
    async with session.begin():
        project = await repository.project_of_batch(session, batch_id)
    if project is None:
        raise NotFound(f"No batch {batch_id}.")
    return project
