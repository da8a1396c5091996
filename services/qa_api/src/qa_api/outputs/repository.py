"""SQL for test inputs and outputs (runs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, and_, bindparam, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.models import (
    Output,
    OutputStatus,
    TestInput,
    batch_table,
    commit_table,
    output_table,
    test_input_table,
)

O = output_table.c  # noqa: E741
T = test_input_table.c
B = batch_table.c
C = commit_table.c


@dataclass(frozen=True, slots=True)
class OutputRow:
    """An output with its test input, as every reader wants it.

    Plain rows, not ORM objects: a commit's page reads thousands of them, and building ORM objects was
    most of that request's time.
    """

    id: int
    batch_id: int
    test_input_id: int
    run_key: str
    platform: str
    configurations: list[Any]
    extra_parameters: dict[str, Any]
    status: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    data: dict[str, Any]
    output_type: str | None
    output_dir: str | None
    job_type: str | None
    storage_size: int | None
    created_at: datetime
    updated_at: datetime
    test_input_database: str
    test_input_path: str
    test_input_metadata: dict[str, Any]


async def get_or_create_test_input(
    session: AsyncSession, database: str, path: str, metadata: dict[str, Any] | None
) -> TestInput:
    """The test input; its metadata is replaced when `metadata` is given and differs."""
    row = (
        await session.execute(select(T.id, T.metadata).where(T.database == database, T.path == path))
    ).one_or_none()
    if row is None:
        await session.execute(
            insert(TestInput)
            .values(database=database, path=path, metadata_=metadata or {})
            .on_conflict_do_nothing(index_elements=["database", "path"])
        )
        row = (
            await session.execute(select(T.id, T.metadata).where(T.database == database, T.path == path))
        ).one()
    stored: dict[str, Any] = row.metadata
    if metadata and stored != metadata:
        await session.execute(update(TestInput).where(T.id == row.id).values(metadata_=metadata))
        stored = metadata
    return TestInput(id=row.id, database=database, path=path, metadata_=stored)


_WRITE_OUTPUT_SQL = text(
    """
    WITH written AS (
        INSERT INTO output (batch_id, test_input_id, run_key, platform, configurations, extra_parameters,
                            status, metrics, params, data, output_type, output_dir, job_type, storage_size)
        VALUES (:batch_id, :test_input_id, :run_key, :platform, :configurations, :extra_parameters,
                :status, :metrics, :params, :data, :output_type, :output_dir, :job_type, :storage_size)
        ON CONFLICT (batch_id, test_input_id, run_key) DO UPDATE SET
            status = EXCLUDED.status,
            metrics = CASE WHEN :keep_results THEN output.metrics ELSE EXCLUDED.metrics END,
            params = CASE WHEN :keep_results THEN output.params ELSE EXCLUDED.params END,
            data = output.data || EXCLUDED.data,
            output_type = EXCLUDED.output_type,
            output_dir = COALESCE(EXCLUDED.output_dir, output.output_dir),
            job_type = EXCLUDED.job_type,
            storage_size = COALESCE(EXCLUDED.storage_size, output.storage_size),
            updated_at = now()
        RETURNING *
    ),
    changed AS (INSERT INTO batch_change (batch_id) VALUES (:batch_id)),
    -- kept to within 2 seconds: writing it on every output would make a commit's runs wait on its row
    touched AS (
        UPDATE commit SET latest_output_at = now()
        WHERE id = :commit_id
          AND (latest_output_at IS NULL OR latest_output_at < now() - interval '2 seconds')
    )
    SELECT * FROM written
    """
).bindparams(
    *(
        bindparam(name, type_=JSONB)
        for name in ("configurations", "extra_parameters", "metrics", "params", "data")
    ),
    bindparam("keep_results", type_=Boolean),
)


async def write_output(
    session: AsyncSession,
    *,
    commit_id: int,
    test_input: TestInput,
    key: dict[str, Any],
    status: OutputStatus,
    results: dict[str, Any] | None,
    data: dict[str, Any],
    output_type: str | None,
    output_dir: str | None,
    job_type: str | None,
    storage_size: int | None,
) -> OutputRow:
    """Insert the run identified by `key`, or update it in place; note that its batch changed and its
    commit has recent results. One statement: one round trip, safe under concurrency.

    `results` (metrics and params) replace the stored ones when given; while a run is queued or
    running they are None and the previous results stay. `data` is merged into the stored data.
    """
    row = (
        await session.execute(
            _WRITE_OUTPUT_SQL,
            {
                **key,
                "commit_id": commit_id,
                "status": status.value,
                "metrics": (results or {}).get("metrics", {}),
                "params": (results or {}).get("params", {}),
                "keep_results": results is None,
                "data": data,
                "output_type": output_type,
                "output_dir": output_dir,
                "job_type": job_type,
                "storage_size": storage_size,
            },
        )
    ).one()
    return OutputRow(
        **row._mapping,
        test_input_database=test_input.database,
        test_input_path=test_input.path,
        test_input_metadata=test_input.metadata_,
    )


def _with_test_input() -> Any:
    return select(
        *output_table.c,
        T.database.label("test_input_database"),
        T.path.label("test_input_path"),
        T.metadata.label("test_input_metadata"),
    ).join(test_input_table, T.id == O.test_input_id)


async def get_output(session: AsyncSession, output_id: int, *, lock: bool = False) -> OutputRow | None:
    """The output; with `lock`, its row stays locked until the transaction ends (read-modify-write)."""
    query = _with_test_input().where(O.id == output_id)
    if lock:
        query = query.with_for_update(of=output_table)
    row = (await session.execute(query)).one_or_none()
    return OutputRow(**row._mapping) if row else None


async def outputs_of_batches(session: AsyncSession, batch_ids: Sequence[int]) -> list[OutputRow]:
    rows = await session.execute(
        _with_test_input().where(O.batch_id.in_(batch_ids)).order_by(O.batch_id, O.id)
    )
    return [OutputRow(**row._mapping) for row in rows]


async def page_of_outputs(
    session: AsyncSession,
    batch_id: int,
    *,
    after: int | None,
    limit: int,
    status: OutputStatus | None,
) -> list[OutputRow]:
    query = _with_test_input().where(O.batch_id == batch_id).order_by(O.id).limit(limit)
    if after is not None:
        query = query.where(O.id > after)
    if status is not None:
        query = query.where(O.status == status.value)
    return [OutputRow(**row._mapping) for row in await session.execute(query)]


async def update_output(session: AsyncSession, output_id: int, **values: Any) -> None:
    await session.execute(update(Output).where(O.id == output_id).values(**values, updated_at=func.now()))


async def delete_output(session: AsyncSession, output_id: int) -> None:
    await session.execute(delete(Output).where(O.id == output_id))


async def replace_best_outputs(
    session: AsyncSession, *, parent_batch_id: int, best_batch_id: int, keep_previous: bool
) -> None:
    """`qa optimize`: the best iteration's outputs move into the parent batch.

    The parent keeps its per-iteration summary outputs (`optim_iteration`); its previous best runs
    are dropped unless `keep_previous`, and any run the move would duplicate is dropped either way.
    """
    parent = O
    if not keep_previous:
        await session.execute(
            delete(Output).where(
                parent.batch_id == parent_batch_id,
                parent.output_type.is_distinct_from("optim_iteration"),
            )
        )
    incoming = output_table.alias("incoming").c
    await session.execute(
        delete(Output).where(
            parent.batch_id == parent_batch_id,
            exists().where(
                and_(
                    incoming.batch_id == best_batch_id,
                    incoming.test_input_id == parent.test_input_id,
                    incoming.run_key == parent.run_key,
                )
            ),
        )
    )
    await session.execute(
        update(Output)
        .where(O.batch_id == best_batch_id)
        .values(batch_id=parent_batch_id, updated_at=func.now())
    )


async def project_of_output(session: AsyncSession, output_id: int) -> str | None:
    query = (
        select(C.project_id)
        .select_from(
            output_table.join(batch_table, B.id == O.batch_id).join(commit_table, C.id == B.commit_id)
        )
        .where(O.id == output_id)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def project_of_batch(session: AsyncSession, batch_id: int) -> str | None:
    query = select(C.project_id).select_from(batch_table.join(commit_table, C.id == B.commit_id))
    return (await session.execute(query.where(B.id == batch_id))).scalar_one_or_none()
