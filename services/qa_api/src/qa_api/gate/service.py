"""The gate: has a commit's batch finished, and did any of its outputs get worse than the reference?

Built on the comparison (`qa_api.compare.service.judge_batch`): the same reference, the same matching,
the same verdicts. `decide` is pure; it reads only the judged batch.

- `pending` while an output of the batch is queued or running, or while the batch has no output yet,
  or while the reference batch has an output queued or running (its outputs are not matched until
  they finish: the batch's would pass as new);
- else `fail` when an output is worse: a metric worse beyond its tolerance, or a run of the commit that
  failed where the reference's did not (a failed run of a new input fails too: there is no reference run
  that failed as well);
- else `pass`. New outputs, inputs of the reference the batch did not run, and runs that failed on both
  sides are said in the reasons, and do not fail the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.compare.judging import JudgedPair
from qa_api.compare.service import CompareQuery, JudgedBatch, judge_batch
from qa_api.compare.verdicts import Failure, MetricVerdict, Verdict

WORSE_SHOWN = 20  # the worse outputs listed; `worse_count` counts them all
FAILED_NAMED = 5  # failed runs named one by one in the reasons
DESCRIPTION_MAX = 140  # GitHub's limit on a commit status's description (GitLab's is larger)


class GateStatus(StrEnum):
    PENDING = "pending"
    PASS = "pass"  # noqa: S105  (a status, not a password)
    FAIL = "fail"


@dataclass(frozen=True)
class OutputProgress:
    total: int
    done: int  # finished or failed
    pending: int  # queued or running
    failed: int


@dataclass(frozen=True)
class WorseOutput:
    """An output that fails the gate, with the metrics that got worse (none for a failed run)."""

    judged: JudgedPair
    metrics: dict[str, MetricVerdict]

    @property
    def failed(self) -> bool:
        return self.judged.failure is Failure.COMMIT


@dataclass(frozen=True)
class GateVerdict:
    status: GateStatus
    judged: JudgedBatch
    outputs: OutputProgress
    reasons: list[str]
    description: str
    worse: list[WorseOutput]  # the first `WORSE_SHOWN`: failed runs, then the largest changes
    worse_count: int
    better_count: int


async def verdict(
    session: AsyncSession, query: CompareQuery, *, check_readable: Callable[[str], None]
) -> GateVerdict:
    """The gate's verdict on `query.batch` of `query.commit` against its reference (as `compare`
    chooses it, with the same `check_readable`)."""
    return decide(await judge_batch(session, query, check_readable=check_readable))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _is_worse(item: JudgedPair) -> bool:
    commit = item.pair.commit
    if commit is None or commit.pending:
        return False
    return item.verdict is Verdict.WORSE or item.failure is Failure.COMMIT


def _severity(output: WorseOutput) -> tuple[int, float]:
    """Failed runs first, then by the largest relative change of a worse metric."""
    changes = [abs(metric.delta_percent) for metric in output.metrics.values() if metric.delta_percent]
    return (0 if output.failed else 1, -max(changes, default=0.0))


def _worse_output(judged: JudgedBatch, item: JudgedPair) -> WorseOutput:
    if item.failure is Failure.COMMIT:
        return WorseOutput(item, {})
    worse = {name: m for name, m in judged.details(item).items() if m.verdict is Verdict.WORSE}
    return WorseOutput(item, worse)


def _failure_reasons(worse: Sequence[JudgedPair], names: Sequence[str]) -> list[str]:
    reasons = []
    for index, name in enumerate(names):
        count = sum(
            1
            for item in worse
            if item.failure is not Failure.COMMIT and item.verdicts[index] is Verdict.WORSE
        )
        if count:
            reasons.append(f"{_plural(count, 'output')} worse on {name}")
    failed = [item for item in worse if item.failure is Failure.COMMIT]
    for item in failed[:FAILED_NAMED]:
        run = item.pair.shown
        new = " (a new input)" if item.pair.reference is None else ""
        reasons.append(f"input {run.path} failed on {run.platform}{new}")
    if len(failed) > FAILED_NAMED:
        reasons.append(f"{_plural(len(failed) - FAILED_NAMED, 'more run')} failed")
    return reasons


def _notes(judged: JudgedBatch) -> list[str]:
    """What is reported without failing the gate."""
    notes = []
    new = sum(
        1
        for item in judged.judged
        if item.verdict is Verdict.NEW
        and item.failure is None
        and item.pair.commit is not None
        and not item.pair.commit.pending
    )
    missing = sum(1 for item in judged.judged if item.pair.commit is None)
    both = [item.pair.shown.path for item in judged.judged if item.failure is Failure.BOTH]
    if new:
        notes.append(f"{_plural(new, 'new output')}: no reference output to compare with")
    if missing:
        notes.append(f"{_plural(missing, 'reference output')} with no output of this batch on its input")
    if both:
        notes.append(f"{_plural(len(both), 'run')} failed as the reference's did: {', '.join(both[:3])}")
    return notes


def _short(text: str) -> str:
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"


def _reference_pending(judged: JudgedBatch) -> int:
    """How many outputs of the reference batch are queued or running."""
    batch_id = judged.reference.batches[0].id
    assert batch_id is not None
    stats = judged.reference.stats[batch_id]
    return stats.queued + stats.running


def decide(judged: JudgedBatch) -> GateVerdict:
    """The verdict on a judged batch (see the module's docstring)."""
    runs = [item.pair.commit for item in judged.judged if item.pair.commit is not None]
    pending = sum(1 for run in runs if run.pending)
    progress = OutputProgress(
        total=len(runs),
        done=len(runs) - pending,
        pending=pending,
        failed=sum(1 for run in runs if run.failed),
    )
    worse_items = [item for item in judged.judged if _is_worse(item)]
    worse = sorted((_worse_output(judged, item) for item in worse_items), key=_severity)
    better = sum(1 for item in judged.judged if item.verdict is Verdict.BETTER)

    reference_pending = _reference_pending(judged)
    waiting_for_reference = (
        [f"the reference batch is still running ({_plural(reference_pending, 'output')} pending)"]
        if reference_pending
        else []
    )

    if not runs:
        status, reasons = GateStatus.PENDING, ["no outputs yet"]
        description = "no outputs yet"
    elif pending:
        status = GateStatus.PENDING
        reasons = [f"{_plural(pending, 'output')} of {progress.total} queued or running"]
        reasons += waiting_for_reference
        description = f"{progress.done}/{progress.total} outputs done"
    elif reference_pending:
        status, reasons = GateStatus.PENDING, waiting_for_reference
        description = f"{progress.done}/{progress.total} outputs done; the reference batch is still running"
    elif worse_items:
        status = GateStatus.FAIL
        reasons = _failure_reasons(worse_items, judged.names)
        description = "; ".join(reasons)
    else:
        status = GateStatus.PASS
        sha = judged.reference.commit.sha[:8]
        reasons = [f"no output worse than the reference ({sha}, batch {judged.reference_batch})"]
        description = f"{_plural(progress.total, 'output')}: none worse, {better} better"
    if runs and not reference_pending:
        # (until the reference batch finishes, its pending outputs would be said missing, ours new)
        reasons += _notes(judged)
    return GateVerdict(
        status=status,
        judged=judged,
        outputs=progress,
        reasons=reasons,
        description=_short(description),
        worse=worse[:WORSE_SHOWN],
        worse_count=len(worse_items),
        better_count=better,
    )
