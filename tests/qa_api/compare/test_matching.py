"""Matching outputs to reference outputs as QA-Board's web app does, without a database."""

from __future__ import annotations

import json
from itertools import count
from typing import Any

import pytest

from qa_api.compare.matching import Run, canonical, levenshtein, match, sort_pairs

_ids = count(1)


def run(
    path: str = "A.jpg",
    *,
    platform: str = "linux",
    configurations: list[Any] | None = None,
    extra_parameters: dict[str, Any] | None = None,
    status: str = "finished",
    input_id: str | None = None,
    database: str = "/data",
    id: int | None = None,
) -> Run:
    return Run(
        id=next(_ids) if id is None else id,
        database=database,
        path=path,
        input_id=input_id,
        platform=platform,
        configurations=json.dumps(configurations or []),
        extra_parameters=json.dumps(extra_parameters or {}),
        status=status,
        values=(),
    )


def test_levenshtein_counts_insertions_deletions_and_substitutions() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "abc") == 0
    assert levenshtein('{"a":1,"b":2}', '{"a":1,"b":3}') == 1


def test_canonical_json_sorts_keys_and_has_no_spaces() -> None:
    assert canonical({"b": [1, 2], "a": {"d": 1, "c": 2}}) == '{"a":{"c":2,"d":1},"b":[1,2]}'


def test_an_output_matches_the_reference_output_of_its_input() -> None:
    mine, other = run("A.jpg"), run("B.jpg")
    ref_a, ref_b = run("A.jpg"), run("B.jpg")

    pairs = match([mine, other], [ref_b, ref_a])

    assert [(p.commit, p.reference, p.mismatch) for p in pairs] == [(mine, ref_a, ()), (other, ref_b, ())]


def test_the_same_platform_wins_before_closer_configurations() -> None:
    mine = run(platform="linux", configurations=["base", {"gain": 2}])
    same_config_other_platform = run(platform="windows", configurations=["base", {"gain": 2}])
    same_platform_other_config = run(platform="linux", configurations=["fast"])

    (pair,) = [p for p in match([mine], [same_config_other_platform, same_platform_other_config]) if p.commit]

    assert pair.reference == same_platform_other_config
    assert pair.mismatch == ("configurations",)


def test_the_nearest_configurations_then_extra_parameters_then_lowest_id_win() -> None:
    mine = run(configurations=[{"gain": 10}], extra_parameters={"iterations": 5})
    far = run(configurations=[{"gain": 99999, "mode": "slow"}])
    near_low_id = run(configurations=[{"gain": 11}], extra_parameters={"iterations": 500}, id=1000)
    near_closer_extra = run(configurations=[{"gain": 11}], extra_parameters={"iterations": 50}, id=1001)
    twin_high = run(configurations=[{"gain": 11}], extra_parameters={"iterations": 50}, id=1002)

    pairs = match([mine], [far, twin_high, near_low_id, near_closer_extra])

    assert pairs[0].reference == near_closer_extra
    assert pairs[0].mismatch == ("configurations", "extra_parameters")


def test_configurations_are_compared_as_canonical_json_whatever_the_key_order() -> None:
    mine = run(configurations=[{"a": 1, "b": 2}])
    shuffled = run()._replace(configurations='[{"b": 2, "a": 1}]')
    different = run(configurations=[{"a": 1, "b": 3}])

    assert match([mine], [different, shuffled])[0].reference == shuffled


def test_pending_reference_outputs_are_no_candidates_nor_missing() -> None:
    mine = run("A.jpg")
    queued = run("A.jpg", status="queued")
    running = run("B.jpg", status="running")

    pairs = match([mine], [queued, running])

    assert [(p.commit, p.reference) for p in pairs] == [(mine, None)]


def test_outputs_match_through_the_metadata_id_when_paths_differ() -> None:
    mine = run("2026/A.jpg", input_id="scene-42")
    moved = run("2025/A.jpg", input_id="scene-42")
    unrelated = run("2025/B.jpg", input_id="scene-7")

    pairs = match([mine], [moved, unrelated])

    assert (pairs[0].reference, pairs[0].mismatch) == (moved, ("input_path",))
    assert [p.reference for p in pairs[1:]] == [unrelated]


def test_a_reference_output_may_match_several_outputs_and_unmatched_ones_are_missing() -> None:
    linux, windows = run(platform="linux"), run(platform="windows")
    reference, orphan = run(platform="linux"), run("Z.jpg")

    pairs = match([linux, windows], [reference, orphan])

    assert [(p.commit, p.reference) for p in pairs] == [
        (linux, reference),
        (windows, reference),
        (None, orphan),
    ]
    assert pairs[1].mismatch == ("platform",)


def test_the_same_path_in_another_database_is_another_input() -> None:
    mine = run("A.jpg", database="/data/v2")

    pairs = match([mine], [run("A.jpg", database="/data/v1")])

    assert pairs[0].reference is None


def test_pairs_are_listed_by_input_path_platform_and_output_id() -> None:
    pairs = match(
        [run("B.jpg", id=5), run("A.jpg", platform="win", id=3), run("A.jpg", platform="linux", id=9)],
        [run("A.jpg", platform="linux", id=1), run("0.jpg", id=2)],
    )

    assert [p.sort_key for p in sort_pairs(pairs)] == [
        ("0.jpg", "linux", 2),
        ("A.jpg", "linux", 9),
        ("A.jpg", "win", 3),
        ("B.jpg", "linux", 5),
    ]


@pytest.mark.parametrize("runs_per_input", [1, 5])
def test_matching_thousands_of_outputs_stays_fast(runs_per_input: int) -> None:
    import time

    def batch(gain: int) -> list[Run]:
        return [
            run(f"{n}.jpg", configurations=[{"gain": gain + k}], extra_parameters={"seed": k})
            for n in range(10_000 // runs_per_input)
            for k in range(runs_per_input)
        ]

    mine, theirs = batch(1), batch(0)
    started = time.perf_counter()
    pairs = match(mine, theirs)
    elapsed = time.perf_counter() - started

    assert all(p.commit is not None and p.reference is not None for p in pairs[: len(mine)])
    assert elapsed < 1.0
