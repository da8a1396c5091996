"""Which reference output each output of a batch is compared with, as QA-Board's web app matches them.

For an output of the commit's batch, the candidates are the reference batch's outputs that are not
pending (queued or running) and are on the same test input: the same input path (database and path),
or the same non-empty `test_input.metadata.id`. Among them, the match is the first by:

    1. the same platform (QA-Board's own tie-break is inverted, a bug we do not copy);
    2. the smallest Levenshtein distance between the canonical JSON of `configurations`;
    3. then of `extra_parameters`;
    4. the lowest output id.

A reference output may match several outputs of the commit. Reference outputs no one matches are
`missing`; outputs without a candidate are `new`. Candidates are grouped by input first, so distances
are only computed among the few runs of one input, and only when no candidate is an exact match.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

PENDING = frozenset({"queued", "running"})


class Run(NamedTuple):
    """An output as the comparison needs it (a tuple: a batch has thousands, built from rows as is).

    `configurations` and `extra_parameters` are JSON text as PostgreSQL normalises jsonb (equal text:
    equal documents); they are decoded only for a distance, or to show them.
    """

    id: int
    database: str
    path: str
    input_id: str | None  # test_input.metadata.id as text, None when absent or empty
    platform: str
    configurations: str
    extra_parameters: str
    status: str
    # the compared metrics' values, in the order they were asked for; None where the run has no
    # numeric value
    values: tuple[float | None, ...]

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True, slots=True)
class Pair:
    """An output of the commit and its match (`new`: no reference), or a `missing` reference output."""

    commit: Run | None
    reference: Run | None
    mismatch: tuple[str, ...] = ()

    @property
    def shown(self) -> Run:
        """The run whose input, platform and parameters the pair is listed under."""
        run = self.commit or self.reference
        assert run is not None
        return run

    @property
    def sort_key(self) -> tuple[str, str, int]:
        run = self.shown
        return (run.path, run.platform, run.id)


def canonical(document: Any) -> str:
    """JSON with sorted keys and no spaces: the text distances are measured on."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if a == b:
        return 0
    # what both share at either end costs nothing: configurations usually differ in a value or two
    shortest = min(len(a), len(b))
    prefix = 0
    while prefix < shortest and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    a, b = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


class _Canonical:
    """Canonical JSON of runs' configurations and extra parameters, computed once per run and only
    when a distance needs it."""

    def __init__(self) -> None:
        self._texts: dict[tuple[int, str], str] = {}

    def of(self, run: Run, field: str) -> str:
        key = (run.id, field)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = canonical(json.loads(getattr(run, field)))
        return text


def _closest(run: Run, candidates: list[Run], field: str, texts: _Canonical) -> list[Run]:
    """The candidates nearest to `run` by the distance of `field` (all those tied)."""
    if len(candidates) == 1:
        return candidates
    own = getattr(run, field)
    exact = [candidate for candidate in candidates if getattr(candidate, field) == own]
    if exact:
        return exact
    target = texts.of(run, field)
    distances = [levenshtein(target, texts.of(candidate, field)) for candidate in candidates]
    best = min(distances)
    return [candidate for candidate, distance in zip(candidates, distances, strict=True) if distance == best]


def best_candidate(run: Run, candidates: list[Run], texts: _Canonical | None = None) -> Run:
    """The candidate `run` is compared with (see the module's docstring for the order)."""
    if len(candidates) == 1:
        return candidates[0]
    texts = texts or _Canonical()
    narrowed = [candidate for candidate in candidates if candidate.platform == run.platform] or candidates
    narrowed = _closest(run, narrowed, "configurations", texts)
    narrowed = _closest(run, narrowed, "extra_parameters", texts)
    return min(narrowed, key=lambda candidate: candidate.id)


def mismatch(run: Run, reference: Run) -> tuple[str, ...]:
    """What differs between an output and its match: `input_path` (matched by metadata id),
    `platform`, `configurations`, `extra_parameters`."""
    if run[1:7] == reference[1:7]:  # database ... extra_parameters: the usual case, the same run
        return ()
    differences = []
    if (run.database, run.path) != (reference.database, reference.path):
        differences.append("input_path")
    if run.platform != reference.platform:
        differences.append("platform")
    if run.configurations != reference.configurations:
        differences.append("configurations")
    if run.extra_parameters != reference.extra_parameters:
        differences.append("extra_parameters")
    return tuple(differences)


def match(commit_runs: Iterable[Run], reference_runs: Iterable[Run]) -> list[Pair]:
    """A pair per output of the commit (its match, or none), then one per reference output that no
    output matched; pending reference outputs take no part (they have no results yet)."""
    by_path: dict[tuple[str, str], list[Run]] = {}
    by_input_id: dict[str, list[Run]] = {}
    references: list[Run] = []
    for reference in reference_runs:
        if reference.pending:
            continue
        references.append(reference)
        by_path.setdefault((reference.database, reference.path), []).append(reference)
        if reference.input_id is not None:
            by_input_id.setdefault(reference.input_id, []).append(reference)
    texts = _Canonical()
    pairs: list[Pair] = []
    matched: set[int] = set()
    for run in commit_runs:
        candidates = _candidates(run, by_path, by_input_id)
        if not candidates:
            pairs.append(Pair(commit=run, reference=None))
            continue
        reference = best_candidate(run, candidates, texts)
        matched.add(reference.id)
        pairs.append(Pair(commit=run, reference=reference, mismatch=mismatch(run, reference)))
    pairs.extend(Pair(commit=None, reference=ref) for ref in references if ref.id not in matched)
    return pairs


def _candidates(
    run: Run, by_path: dict[tuple[str, str], list[Run]], by_input_id: dict[str, list[Run]]
) -> list[Run]:
    same_path = by_path.get((run.database, run.path), [])
    if run.input_id is None or run.input_id not in by_input_id:
        return same_path
    seen = {candidate.id for candidate in same_path}
    return same_path + [c for c in by_input_id[run.input_id] if c.id not in seen]


def sort_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    """In the order pages list them: input path, platform, output id."""
    return sorted(pairs, key=lambda pair: pair.sort_key)
