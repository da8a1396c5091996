"""SQL for comparisons: the runs of two batches, only the columns a comparison needs."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.compare.matching import Run

# In asyncpg's own syntax (see `runs_of_batches`). Configurations and extra parameters come as jsonb's
# normalised text: equal text is equal JSON, and most of them are never decoded (see `matching.Run`).
# The metrics come as one float8 array per run, the values of the names in $2 in order, NULL where a
# run has no JSON number (that a float8 can hold) there: not the whole, often much larger, metrics
# document. (Nested CASE: PostgreSQL does not promise to evaluate AND's operands in order.)
RUNS_SQL = """
    SELECT o.batch_id, o.id, t.database, t.path, nullif(t.metadata ->> 'id', '') AS input_id, o.platform,
           o.configurations::text AS configurations, o.extra_parameters::text AS extra_parameters,
           o.status,
           ARRAY(
               SELECT CASE WHEN jsonb_typeof(o.metrics -> n.name) <> 'number' THEN NULL
                           WHEN abs((o.metrics -> n.name)::numeric) < 1e308
                           THEN (o.metrics -> n.name)::float8
                      END
               FROM unnest($2::text[]) WITH ORDINALITY AS n(name, i)
               ORDER BY n.i
           ) AS "values"
    FROM output AS o JOIN test_input AS t ON t.id = o.test_input_id
    WHERE o.batch_id = ANY($1::bigint[])
"""


async def runs_of_batches(
    session: AsyncSession, batch_ids: Sequence[int], metrics: Sequence[str]
) -> dict[int, list[Run]]:
    """Each batch's runs, with the values of `metrics` (None where a run has none).

    Sent through asyncpg itself, on the session's connection (in its transaction): SQLAlchemy's
    result rows cost as much as the query for these thousands of rows.
    """
    runs: dict[int, list[Run]] = {batch_id: [] for batch_id in batch_ids}
    pooled = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = pooled.driver_connection
    for row in await driver.fetch(RUNS_SQL, list(batch_ids), list(metrics)):
        batch_id, output_id, database, path, input_id, platform, configurations, extra, status, values = row
        runs[batch_id].append(
            Run(output_id, database, path, input_id, platform, configurations, extra, status, tuple(values))
        )
    return runs
