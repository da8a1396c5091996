"""SQL for comparisons: the runs of two batches, only the columns a comparison needs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.compare.matching import Run

# Configurations and extra parameters come as jsonb's normalised text: equal text is equal JSON, and
# most of them are never decoded (see `matching.Run`). The metrics come as one JSON array per run,
# their values in the order of `:names`, not as the whole (often much larger) metrics document.
_RUNS_SQL = text(
    """
    SELECT o.batch_id, o.id, t.database, t.path, nullif(t.metadata ->> 'id', '') AS input_id, o.platform,
           o.configurations::text AS configurations, o.extra_parameters::text AS extra_parameters,
           o.status,
           (SELECT coalesce(jsonb_agg(o.metrics -> n.name ORDER BY n.i), '[]'::jsonb)
            FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, i)) AS "values"
    FROM output AS o JOIN test_input AS t ON t.id = o.test_input_id
    WHERE o.batch_id = ANY(:batch_ids)
    """
).bindparams(bindparam("names", type_=ARRAY(Text)), bindparam("batch_ids", type_=ARRAY(BigInteger)))


async def runs_of_batches(
    session: AsyncSession, batch_ids: Sequence[int], metrics: Sequence[str]
) -> dict[int, list[Run]]:
    """Each batch's runs, with the values of `metrics` (null where a run has none)."""
    runs: dict[int, list[Run]] = {batch_id: [] for batch_id in batch_ids}
    rows = await session.execute(_RUNS_SQL, {"batch_ids": list(batch_ids), "names": list(metrics)})
    for row in rows:
        runs[row.batch_id].append(
            Run(
                id=row.id,
                database=row.database,
                path=row.path,
                input_id=row.input_id,
                platform=row.platform,
                configurations=row.configurations,
                extra_parameters=row.extra_parameters,
                status=row.status,
                values=tuple(row.values),
            )
        )
    return runs
