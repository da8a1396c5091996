"""The one place that calls git: bare mirrors of registered repositories, and what they contain.

Every function here blocks and is meant for a worker thread (`asyncio.to_thread`); each opens the mirror
with gitpython and closes it before returning, so no `git cat-file` process outlives the call.

    GitFailure   a clone, fetch or read failed (network, authentication, a corrupt mirror)
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import git
import yaml

from qahub_shared.schemas.documents import storable_problem
from webhook_listener.qaboard_config import config_file

ZERO_SHA = "0" * 40

# What every git command the listener runs gets over the process's environment: the machine's and the
# user's git configuration (/etc/gitconfig, ~/.gitconfig: url rewrites, credential helpers, hooks,
# fsmonitor...) and a parent git's `-c` options are ignored, and nothing asks for credentials (no
# terminal prompt, no askpass program).
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_PARAMETERS": "",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "SSH_ASKPASS_REQUIRE": "never",
}
# Configuration given to every git command (through GIT_CONFIG_COUNT, which also replaces any the
# process inherited): no hook runs in a mirror, whatever its hooks folder holds.
_GIT_CONFIG = (("core.hooksPath", os.devnull),)


@dataclass(frozen=True, slots=True)
class Remote:
    """A registered clone URL, split into what git may show and store, and the credential it may not."""

    url: str
    """The clone URL without the user and password of an http(s) URL: what git's command line and the
    mirror's config hold."""
    authorization: str | None = field(default=None, repr=False)
    """`Authorization` header value (Basic) made of that user and password, for `url`'s host only."""


def remote_of(clone_url: str) -> Remote:
    """Split the credentials off an http(s) clone URL (`https://user:token@host/repo` →
    `https://host/repo` and a Basic authorization). The user and password end at the last '@' of the
    authority, and may be percent-encoded. Other URLs (`ssh://git@host`, `git@host:repo`, `file://`) name
    a login, not a secret: they are kept as they are."""
    parts = urllib.parse.urlsplit(clone_url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return Remote(clone_url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    url = urllib.parse.urlunsplit(parts._replace(netloc=host))
    if not userinfo:
        return Remote(url)
    credential = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return Remote(url, authorization="Basic " + base64.b64encode(credential.encode()).decode())


def git_environment(remote: Remote | None = None) -> dict[str, str]:
    """The variables every git command the listener runs is given, over the process's environment; with
    `remote`, its credential too, as an HTTP header sent to its host only (never on a command line, where
    `ps` shows it, nor in the mirror's config), and no redirect followed."""
    config = list(_GIT_CONFIG)
    if remote is not None and remote.authorization is not None:
        parts = urllib.parse.urlsplit(remote.url)
        origin = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
        config.append((f"http.{origin}.extraHeader", f"Authorization: {remote.authorization}"))
        # git matches the header's URL once, against the URL it was given: after a redirect (followed
        # by default on the first request) it sends the header on to wherever that led
        config.append(("http.followRedirects", "false"))
    environment = dict(_GIT_ENV, GIT_CONFIG_COUNT=str(len(config)))
    for index, (key, value) in enumerate(config):
        environment[f"GIT_CONFIG_KEY_{index}"] = key
        environment[f"GIT_CONFIG_VALUE_{index}"] = value
    return environment


def clone_command(remote: Remote, destination: Path) -> list[str]:
    """The command line of a mirror's first clone (its credential is in `git_environment(remote)`)."""
    return ["git", "clone", "--bare", "--quiet", "--", remote.url, str(destination)]


class GitFailure(Exception):
    """git could not do what was asked; the message is safe to record (no secrets in clone URLs)."""


@dataclass(frozen=True, slots=True)
class RefKey:
    kind: str
    """`branch` or `tag`."""
    name: str


@dataclass(slots=True)
class CommitFacts:
    """A commit as git records it, and the QA-Board configs (by folder, '' = root) in its tree."""

    sha: str
    parents: list[str]
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    authored_at: datetime
    committed_at: datetime
    message: str
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Folder → its own (unmerged) config file (`qaboard.yaml`, else `qatools.yaml`), for every folder of
    the tree that has one."""


@contextmanager
def _open(path: Path, remote: Remote | None = None) -> Iterator[git.Repo]:
    """The mirror at `path`, its git commands run with `git_environment(remote)`."""
    try:
        repo = git.Repo(path)
    except (git.exc.GitError, OSError) as error:
        raise GitFailure(f"cannot open the mirror: {type(error).__name__}") from None
    try:
        with repo.git.custom_environment(**git_environment(remote)):
            yield repo
    except git.exc.GitCommandError as error:
        raise GitFailure(_describe(error)) from None
    finally:
        repo.close()


# A URL's userinfo: from `://` to the last `@` before its authority ends (at '/', '?', '#', a quote or
# the end of the line), since a password may hold an '@' or a space of its own (`https://u:p@ss@host`).
_USERINFO = re.compile(r"(?<=://)[^/?#'\"\r\n]*@")


def redact(text: str) -> str:
    """`text` without the credentials a URL in it may carry (`https://user:token@host` → `https://***@host`)."""
    return _USERINFO.sub("***@", text)


def _describe(error: git.exc.GitCommandError) -> str:
    stderr = redact(str(error.stderr or "").strip().replace("\n", " "))[:500]
    # the command itself is not quoted: its arguments may hold the clone URL
    return f"git {error.command[1] if len(error.command) > 1 else ''} exited with {error.status}: {stderr}"


def sync_mirror(path: Path, clone_url: str, *, timeout_seconds: float) -> None:
    """Create the bare mirror of `clone_url` at `path` if needed, then fetch its branches and tags (refs
    gone from the remote are pruned). Credentials in the URL reach git through its environment only."""
    remote = remote_of(clone_url)
    if not (path / "HEAD").exists():
        if path.exists():
            shutil.rmtree(path)  # a clone that died half-way
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        # git itself, not gitpython's clone_from, whose timeout never fires on a clone (gitpython 3.2)
        try:
            subprocess.run(  # noqa: S603 (no shell; the URL comes from a registered repository)
                clone_command(remote, partial),
                env={**os.environ, **git_environment(remote)},
                capture_output=True,
                text=True,
                timeout=timeout_seconds,
                check=True,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(partial, ignore_errors=True)
            raise GitFailure(f"git clone did not finish within {timeout_seconds:g} s") from None
        except subprocess.CalledProcessError as error:
            shutil.rmtree(partial, ignore_errors=True)
            stderr = redact(str(error.stderr or "").strip().replace("\n", " "))[:500]
            raise GitFailure(f"git clone exited with {error.returncode}: {stderr}") from None
        with _open(partial) as repo:
            # objects a force push left unreachable are still read (`removed`): no automatic gc
            repo.git.config("gc.auto", "0")
            # branches and tags only: not GitLab's merge-request or GitHub's pull-request refs
            repo.git.config("--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*")
            repo.git.config("--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*")
        partial.rename(path)
    with _open(path, remote) as repo:
        # also takes the credentials out of a mirror cloned before they were kept out of its config
        repo.git.remote("set-url", "origin", remote.url)
        repo.git.fetch("--prune", "--quiet", "origin", kill_after_timeout=timeout_seconds)


def remove_mirror(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def read_refs(path: Path) -> dict[RefKey, str]:
    """Every branch and tag of the mirror → the commit it points at (annotated tags dereferenced)."""
    refs: dict[RefKey, str] = {}
    with _open(path) as repo:
        listing = repo.git.for_each_ref(
            "--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)",
            "refs/heads",
            "refs/tags",
        )
        for line in listing.splitlines():
            name, kind, sha, peeled_kind, peeled_sha = line.split("\x00")
            if kind == "tag" and peeled_kind != "commit":
                # a tag of a tag (or of a tree): let git peel it all the way, when it leads to a commit
                try:
                    sha, peeled_kind = repo.git.rev_parse(f"{name}^{{commit}}"), "commit"
                except git.exc.GitCommandError:
                    continue
            target = peeled_sha if kind == "tag" and peeled_sha else sha
            if (peeled_kind if kind == "tag" else kind) != "commit":
                continue
            if name.startswith("refs/heads/"):
                refs[RefKey("branch", name.removeprefix("refs/heads/"))] = target
            elif name.startswith("refs/tags/"):
                refs[RefKey("tag", name.removeprefix("refs/tags/"))] = target
    return refs


def rev_list(path: Path, tip: str, *, exclude: Iterable[str], max_count: int) -> list[str]:
    """Commits reachable from `tip` and from none of `exclude`, newest first, at most `max_count`."""
    excluded = sorted({sha for sha in exclude if sha != ZERO_SHA})
    with _open(path) as repo:
        # the excluded tips go through stdin: a repository may have thousands of refs
        process = repo.git.rev_list(
            "--topo-order",
            f"--max-count={max_count}",
            "--ignore-missing",
            "--stdin",
            as_process=True,
            istream=subprocess.PIPE,
        )
        lines = "".join(f"{line}\n" for line in [tip, *(f"^{sha}" for sha in excluded)])
        stdout, stderr = process.proc.communicate(lines.encode())
        if process.proc.returncode != 0:
            detail = stderr.decode(errors="replace").strip()[:500]
            raise GitFailure(f"git rev-list exited with {process.proc.returncode}: {redact(detail)}")
    output: bytes = stdout
    return output.decode().split()


def is_ancestor(path: Path, ancestor: str, descendant: str) -> bool | None:
    """Whether `ancestor` is reachable from `descendant`; None when the mirror lacks `ancestor`."""
    with _open(path) as repo:
        try:
            repo.git.cat_file("-e", f"{ancestor}^{{commit}}")
        except git.exc.GitCommandError:
            return None
        try:
            repo.git.merge_base("--is-ancestor", ancestor, descendant)
        except git.exc.GitCommandError as error:
            if error.status == 1:
                return False
            raise
        return True


def describe_commits(path: Path, shas: Iterable[str]) -> list[CommitFacts]:
    """The facts of each commit, and the QA-Board config files of its tree (parsed, by folder)."""
    found: list[CommitFacts] = []
    trees: dict[bytes, dict[str, bytes]] = {}
    blobs: dict[bytes, dict[str, Any]] = {}
    with _open(path) as repo:
        for sha in shas:
            commit = repo.commit(sha)
            files = _config_files(commit.tree, trees)
            configs = {folder: _parse_config(repo, blob, blobs) for folder, blob in files.items()}
            found.append(
                CommitFacts(
                    sha=commit.hexsha,
                    parents=[parent.hexsha for parent in commit.parents],
                    author_name=commit.author.name or "",
                    author_email=commit.author.email or "",
                    committer_name=commit.committer.name or "",
                    committer_email=commit.committer.email or "",
                    authored_at=commit.authored_datetime,
                    committed_at=commit.committed_datetime,
                    message=commit.message
                    if isinstance(commit.message, str)
                    else commit.message.decode(errors="replace"),
                    configs=configs,
                )
            )
    return found


def _config_files(tree: git.Tree, memo: dict[bytes, dict[str, bytes]]) -> dict[str, bytes]:
    """Folder ('' = root) → blob id of its config file (`qaboard.yaml`, else `qatools.yaml`); memoised by
    tree id, since consecutive commits share most of their trees."""
    known = memo.get(tree.binsha)
    if known is not None:
        return known
    files: dict[str, bytes] = {}
    blobs = {blob.name: blob.binsha for blob in tree.blobs}
    name = config_file(blobs)
    if name is not None:
        files[""] = blobs[name]
    for subtree in tree.trees:
        for folder, blob_id in _config_files(subtree, memo).items():
            files[f"{subtree.name}/{folder}" if folder else subtree.name] = blob_id
    memo[tree.binsha] = files
    return files


# A config is a small file: a larger one (or a YAML "billion laughs") configures nothing.
MAX_CONFIG_BYTES = 256 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    """`yaml.safe_load` without anchors' aliases: they make self-referencing or exponentially large data."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases are not accepted in qaboard.yaml")
        return super().compose_node(parent, index)


def load_config(data: bytes) -> dict[str, Any]:
    """A `qaboard.yaml` as JSON-compatible data; `{}` for an empty file, a file that is not a mapping, or
    one QA Hub cannot use (too large, aliases, invalid YAML, not storable as JSON)."""
    if len(data) > MAX_CONFIG_BYTES:
        return {}
    try:
        loaded = yaml.load(data, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader, without aliases)
    except (yaml.YAMLError, RecursionError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    try:
        # dates become ISO strings, bytes their repr; NaN, a NUL or too deep a nesting: unusable
        normalised: dict[str, Any] = json.loads(json.dumps(loaded, default=str, allow_nan=False))
    except (ValueError, TypeError, RecursionError):
        return {}
    return {} if storable_problem(normalised) else normalised


def _parse_config(repo: git.Repo, blob_id: bytes, memo: dict[bytes, dict[str, Any]]) -> dict[str, Any]:
    known = memo.get(blob_id)
    if known is None:
        known = memo[blob_id] = load_config(repo.odb.stream(blob_id).read())
    return known
