"""SQL for test inputs and outputs (runs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
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


@dataclass(frozen=True)
class OutputRow:
    """An output with its test input, as every reader wants it."""

    output: Output
    test_input: TestInput


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


async def upsert_output(
    session: AsyncSession,
    *,
    key: dict[str, Any],
    status: OutputStatus,
    results: dict[str, Any] | None,
    data: dict[str, Any],
    output_type: str | None,
    output_dir: str | None,
    job_type: str | None,
    storage_size: int | None,
) -> Output:
    """Insert the run identified by `key`, or update it in place: one statement, safe under concurrency.

    `results` (metrics and params) replace the stored ones when given; while a run is queued or
    running they are None and the previous results stay. `data` is merged into the stored data.
    """
    metrics = (results or {}).get("metrics", {})
    params = (results or {}).get("params", {})
    statement = insert(Output).values(
        **key,
        status=status.value,
        metrics=metrics,
        params=params,
        data=data,
        output_type=output_type,
        output_dir=output_dir,
        job_type=job_type,
        storage_size=storage_size,
    )
    excluded = statement.excluded
    keep_results = literal(results is None)
    upsert = statement.on_conflict_do_update(
        index_elements=["batch_id", "test_input_id", "run_key"],
        set_={
            "status": excluded.status,
            "metrics": case((keep_results, O.metrics), else_=excluded.metrics),
            "params": case((keep_results, O.params), else_=excluded.params),
            "data": O.data.op("||")(excluded.data),
            "output_type": excluded.output_type,
            "output_dir": case((excluded.output_dir.is_(None), O.output_dir), else_=excluded.output_dir),
            "job_type": excluded.job_type,
            "storage_size": case(
                (excluded.storage_size.is_(None), O.storage_size), else_=excluded.storage_size
            ),
            "updated_at": excluded.updated_at,
        },
    ).returning(Output)
    output: Output = (await session.execute(upsert)).scalar_one()
    return output


def _with_test_input() -> Any:
    return select(Output, TestInput).join(test_input_table, T.id == O.test_input_id)


async def get_output(session: AsyncSession, output_id: int, *, lock: bool = False) -> OutputRow | None:
    """The output; with `lock`, its row stays locked until the transaction ends (read-modify-write)."""
    query = _with_test_input().where(O.id == output_id)
    if lock:
        query = query.with_for_update(of=output_table)
    row = (await session.execute(query)).one_or_none()
    return OutputRow(*row) if row else None


async def outputs_of_batches(session: AsyncSession, batch_ids: Sequence[int]) -> list[OutputRow]:
    rows = await session.execute(
        _with_test_input().where(O.batch_id.in_(batch_ids)).order_by(O.batch_id, O.id)
    )
    return [OutputRow(*row) for row in rows]


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
    return [OutputRow(*row) for row in await session.execute(query)]


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
