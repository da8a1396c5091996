"""SQL for test inputs and outputs (runs)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import and_, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.db import any_id
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


# In asyncpg's own syntax: the write path of runs sends it straight through asyncpg (prepared once per
# connection), or inside a session's transaction when it had rows to create first.
_WRITE_OUTPUT_SQL = """
    WITH written AS (
        INSERT INTO output (batch_id, test_input_id, run_key, platform, configurations, extra_parameters,
                            status, metrics, params, data, output_type, output_dir, job_type, storage_size)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12, $13,
                $14)
        ON CONFLICT (batch_id, test_input_id, run_key) DO UPDATE SET
            status = EXCLUDED.status,
            metrics = CASE WHEN $15::boolean THEN output.metrics ELSE EXCLUDED.metrics END,
            params = CASE WHEN $15::boolean THEN output.params ELSE EXCLUDED.params END,
            data = output.data || EXCLUDED.data,
            output_type = EXCLUDED.output_type,
            output_dir = COALESCE(EXCLUDED.output_dir, output.output_dir),
            job_type = EXCLUDED.job_type,
            storage_size = COALESCE(EXCLUDED.storage_size, output.storage_size),
            updated_at = now()
        RETURNING *
    ),
    changed AS (INSERT INTO batch_change (batch_id) VALUES ($1)),
    -- kept to within 2 seconds: writing it on every output would make a commit's runs wait on its row
    touched AS (
        UPDATE commit SET latest_output_at = now()
        WHERE id = $16
          AND (latest_output_at IS NULL OR latest_output_at < now() - interval '2 seconds')
    )
    SELECT * FROM written
"""


@dataclass(frozen=True, slots=True)
class OutputWrite:
    """A run to insert, or to update in place when its key exists (see `write_output`).

    `results` (metrics and params) replace the stored ones when given; while a run is queued or
    running they are None and the previous results stay. `data` is merged into the stored data.
    """

    commit_id: int
    batch_id: int
    test_input: TestInput
    run_key: str
    platform: str
    configurations: list[Any]
    extra_parameters: dict[str, Any]
    status: OutputStatus
    results: dict[str, Any] | None
    data: dict[str, Any]
    output_type: str | None
    output_dir: str | None
    job_type: str | None
    storage_size: int | None

    def arguments(self) -> tuple[Any, ...]:
        """`_WRITE_OUTPUT_SQL`'s parameters; JSONB ones as JSON text (the codec SQLAlchemy installs)."""
        results = self.results or {}
        return (
            self.batch_id,
            self.test_input.id,
            self.run_key,
            self.platform,
            json.dumps(self.configurations),
            json.dumps(self.extra_parameters),
            self.status.value,
            json.dumps(results.get("metrics", {})),
            json.dumps(results.get("params", {})),
            json.dumps(self.data),
            self.output_type,
            self.output_dir,
            self.job_type,
            self.storage_size,
            self.results is None,
            self.commit_id,
        )

    def row(self, written: Mapping[Any, Any]) -> OutputRow:
        return OutputRow(
            **written,
            test_input_database=self.test_input.database,
            test_input_path=self.test_input.path,
            test_input_metadata=self.test_input.metadata_,
        )


async def write_output(session: AsyncSession, write: OutputWrite) -> OutputRow:
    """Insert the run, or update it in place; note that its batch changed and its commit has recent
    results. One statement: one round trip, safe under concurrency. In the session's transaction.
    """
    connection = await session.connection()
    written = (await connection.exec_driver_sql(_WRITE_OUTPUT_SQL, write.arguments())).one()
    return write.row(written._mapping)


async def write_output_now(connection: asyncpg.Connection, write: OutputWrite) -> OutputRow:
    """`write_output` as a statement of its own on a connection outside any transaction: committed
    when it returns, with no BEGIN or COMMIT round trip.
    """
    written = await connection.fetchrow(_WRITE_OUTPUT_SQL, *write.arguments())
    assert written is not None  # RETURNING of an upsert: always one row
    return write.row(written)


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
        _with_test_input().where(O.batch_id == any_id(batch_ids)).order_by(O.batch_id, O.id)
    )
    return [OutputRow(**row._mapping) for row in rows]


# `qa_api.v1.serialize.output` of every output of the batches, built by PostgreSQL: one JSON object per
# batch, `{"<id>": output, ...}` in id order, returned as text (asyncpg does not decode it). A commit's
# page has thousands of outputs, and decoding their JSONB into Python, validating and encoding it again
# was most of that request's CPU. Must match `serialize.output` value for value (a test pins it):
# `created_date` as `datetime.isoformat()` of a UTC time, `output_dir_url` as `quote("/s" + dir)`.
_V1_OUTPUTS_JSON_SQL = text(
    """
    SELECT o.batch_id, json_object_agg(o.id::text, v ORDER BY o.id)::text AS outputs
    FROM output AS o
    JOIN test_input AS t ON t.id = o.test_input_id
    -- one row per output, its columns named and ordered as the JSON object's keys (a third cheaper
    -- for PostgreSQL than json_build_object)
    CROSS JOIN LATERAL (
        SELECT o.id, o.output_type, o.platform, o.configurations, o.extra_parameters, o.metrics,
               o.status = 'failed' AS is_failed,
               o.status IN ('queued', 'running') AS is_pending,
               o.status = 'running' AS is_running,
               o.data,
               false AS deleted,
               to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                   || CASE WHEN to_char(o.created_at, 'US') = '000000' THEN ''
                           ELSE to_char(o.created_at, '.US') END
                   || '+00:00' AS created_date,
               CASE WHEN o.output_dir IS NULL OR o.output_dir = '' THEN ''
                    -- what `quote` leaves as is (letters, digits, _.-~ and /): most paths
                    WHEN o.output_dir ~ '^[-/._~0-9A-Za-z]*$' THEN '/s' || o.output_dir
                    ELSE '/s' || (
                        SELECT string_agg(
                            CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
                                      OR b IN (45, 46, 47, 95, 126) THEN chr(b)
                                 ELSE '%' || upper(lpad(to_hex(b), 2, '0')) END,
                            '' ORDER BY i)
                        FROM convert_to(o.output_dir, 'UTF8') AS utf8(bytes),
                             generate_series(0, length(utf8.bytes) - 1) AS i,
                             get_byte(utf8.bytes, i) AS b
                    )
               END AS output_dir_url,
               t.database AS test_input_database,
               t.path AS test_input_path,
               t.metadata AS test_input_metadata
    ) AS v
    WHERE o.batch_id = ANY(:batch_ids)
    GROUP BY o.batch_id
    """
)


async def v1_outputs_json(session: AsyncSession, batch_ids: Sequence[int]) -> dict[int, str]:
    """Each batch's outputs as QA-Board's JSON map (see `_V1_OUTPUTS_JSON_SQL`); `{}` for none."""
    json_of = dict.fromkeys(batch_ids, "{}")
    if batch_ids:
        rows = await session.execute(_V1_OUTPUTS_JSON_SQL, {"batch_ids": list(batch_ids)})
        for batch_id, outputs in rows:
            json_of[batch_id] = outputs
    return json_of


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
