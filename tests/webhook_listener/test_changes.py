"""What a push changed, computed from a real repository's mirror (`changes.plan`), before it is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from qahub_shared.schemas.git import GitRefKind, GitRefUpdate, GitUpdates
from tests.webhook_listener.gitrepo import Origin
from webhook_listener import changes, mirror
from webhook_listener.changes import Plan, SentRef, plan
from webhook_listener.mirror import RefKey

PROJECT = "group/repo"
MAIN = RefKey("branch", "main")


def planned(origin: Origin, tmp_path: Path, sent: dict[RefKey, SentRef], max_commits: int = 100) -> Plan:
    path = tmp_path / "mirror.git"
    mirror.sync_mirror(path, origin.url, timeout_seconds=60)
    return plan(path, PROJECT, sent, new_ref_max_commits=max_commits)


def refs_of(updates: list[GitUpdates], project: str = PROJECT) -> dict[str, GitRefUpdate]:
    return {ref.name: ref for update in updates if update.project == project for ref in update.refs}


def after(result: Plan) -> dict[RefKey, SentRef]:
    return {key: ref for key, ref in result.refs_after.items() if ref is not None}


def test_a_force_push_is_marked_forced_with_the_commits_it_removed(origin: Origin, tmp_path: Path) -> None:
    base = origin.commit()
    dropped = origin.commits(2)
    origin.push("HEAD:refs/heads/main")
    first = planned(origin, tmp_path, {})
    origin.reset_hard(base)
    rewritten = origin.commit("rewritten")
    origin.push("HEAD:refs/heads/main", force=True)

    second = planned(origin, tmp_path, after(first))

    main = refs_of(second.updates)["main"]
    assert (main.sha, main.forced, main.added) == (rewritten, True, [rewritten])
    assert set(main.removed) == set(dropped)


def test_a_fast_forward_is_not_forced_and_adds_only_the_new_commits(origin: Origin, tmp_path: Path) -> None:
    origin.commit()
    origin.push("HEAD:refs/heads/main")
    first = planned(origin, tmp_path, {})
    new = origin.commits(3)
    origin.push("HEAD:refs/heads/main")

    second = planned(origin, tmp_path, after(first))

    main = refs_of(second.updates)["main"]
    assert (main.forced, main.removed, main.added) == (False, [], list(reversed(new)))
    assert [c.sha for u in second.updates for c in u.commits] == new  # oldest first


def test_a_new_ref_sends_at_most_the_configured_history(origin: Origin, tmp_path: Path) -> None:
    shas = origin.commits(8)
    origin.push("HEAD:refs/heads/main")

    result = planned(origin, tmp_path, {}, max_commits=5)

    assert refs_of(result.updates)["main"].added == list(reversed(shas))[:5]


def test_a_tag_brings_only_commits_no_branch_reaches(origin: Origin, tmp_path: Path) -> None:
    on_main = origin.commit()
    origin.push("HEAD:refs/heads/main")
    origin.tag("v1", message="on main")
    origin.checkout("detached", new=True)
    off_branch = origin.commit()
    origin.tag("v2")
    origin.push("refs/tags/v1", "refs/tags/v2")

    result = planned(origin, tmp_path, {})

    tags = {ref.name: ref for update in result.updates for ref in update.refs if ref.kind is GitRefKind.TAG}
    assert (tags["v1"].sha, tags["v1"].added) == (on_main, [])
    assert (tags["v2"].sha, tags["v2"].added) == (off_branch, [off_branch])


def test_a_branch_leaves_a_subproject_whose_qaboard_yaml_is_gone_at_its_tip(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit("with algo", {"algo/qaboard.yaml": "inputs: {database: /d}\n"})
    origin.push("HEAD:refs/heads/main")
    first = planned(origin, tmp_path, {})
    (origin.work / "algo/qaboard.yaml").unlink()
    without = origin.commit("without algo")
    origin.push("HEAD:refs/heads/main")

    second = planned(origin, tmp_path, after(first))

    sent_main = first.refs_after[MAIN]
    assert sent_main is not None
    assert sent_main.projects == (PROJECT, f"{PROJECT}/algo")
    assert refs_of(second.updates, f"{PROJECT}/algo")["main"].sha is None
    assert refs_of(second.updates)["main"].sha == without
    assert second.refs_after[MAIN] == SentRef(without, (PROJECT,))


def test_a_push_larger_than_the_added_cap_still_sends_every_commit(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.commit()
    origin.push("HEAD:refs/heads/main")
    first = planned(origin, tmp_path, {})
    new = origin.commits(5)
    origin.push("HEAD:refs/heads/main")
    monkeypatch.setattr(changes, "MAX_REF_COMMITS", 2)  # the contract's 10,000, made small

    second = planned(origin, tmp_path, after(first))

    assert refs_of(second.updates)["main"].added == list(reversed(new))[:2]
    assert [c.sha for u in second.updates for c in u.commits] == new  # all of them, oldest first


def test_a_qatools_yaml_configures_a_folder_that_has_no_qaboard_yaml(origin: Origin, tmp_path: Path) -> None:
    origin.commit(
        "configs under both names",
        {
            "qatools.yaml": "project:\n  name: repo\noutputs:\n  metrics: [psnr]\n",
            "legacy/qatools.yaml": "outputs:\n  metrics: [super, ssim]\n",
            "algo/qatools.yaml": "inputs:\n  database: /old\n",
            "algo/qaboard.yaml": "inputs:\n  database: /new\n",
        },
    )
    origin.push("HEAD:refs/heads/main")

    result = planned(origin, tmp_path, {})

    configs = {update.project: commit.config for update in result.updates for commit in update.commits}
    root = {"project": {"name": "repo"}, "outputs": {"metrics": ["psnr"]}}
    assert configs == {
        PROJECT: root,
        f"{PROJECT}/legacy": {"project": {"name": "repo"}, "outputs": {"metrics": ["psnr", "ssim"]}},
        f"{PROJECT}/algo": {**root, "inputs": {"database": "/new"}},  # qaboard.yaml first, as QA-Board
    }
    assert result.refs_after[MAIN] == SentRef(
        origin.head(), (PROJECT, f"{PROJECT}/algo", f"{PROJECT}/legacy")
    )
