"""The process-local memory of existing rows the write path uses."""

from __future__ import annotations

from qa_api.outputs.known import KnownRows


def test_the_least_recently_used_rows_are_forgotten_first() -> None:
    known = KnownRows(capacity=2)
    known.remember({"a": 1, "b": 2})
    assert known.get("a") == 1  # "b" is now the least recently used

    known.remember({"c": 3})

    assert (known.get("a"), known.get("b"), known.get("c")) == (1, None, 3)


def test_forgetting_all_clears_everything() -> None:
    known = KnownRows()
    known.remember({("commit", "p", "sha"): 7, ("ref", "p", "sha", "branch", "main"): True})

    known.forget_all()

    assert not known.has_all([("commit", "p", "sha")])
