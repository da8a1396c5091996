"""Real git for tests: a bare "origin" served over `file://`, and a working clone that commits and pushes
with the `git` command line, as a developer would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ZERO = "0" * 40
_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Grace Hopper",
    "GIT_COMMITTER_EMAIL": "grace@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=_ENV, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Origin:
    """A bare repository (what GitLab or GitHub hosts) and a clone to push to it from."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        git(root, "init", "--quiet", "--initial-branch=main", str(self.work))
        git(self.work, "remote", "add", "origin", self.bare.as_uri())
        self._counter = 0

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, message: str | None = None, files: dict[str, str] | None = None) -> str:
        self._counter += 1
        for name, content in (files or {f"file-{self._counter}.txt": f"{self._counter}\n"}).items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message or f"commit {self._counter}")
        return self.head()

    def commits(self, count: int) -> list[str]:
        return [self.commit() for _ in range(count)]

    def head(self) -> str:
        return git(self.work, "rev-parse", "HEAD")

    def tip(self, ref: str) -> str:
        """What the origin's ref points at now (ZERO when it does not exist)."""
        try:
            return git(self.bare, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except subprocess.CalledProcessError:
            return ZERO

    def checkout(self, branch: str, *, new: bool = False, start: str | None = None) -> None:
        git(self.work, "checkout", "--quiet", *(["-b"] if new else []), branch, *([start] if start else []))

    def reset_hard(self, sha: str) -> None:
        git(self.work, "reset", "--quiet", "--hard", sha)

    def push(self, *refspecs: str, force: bool = False) -> None:
        git(self.work, "push", "--quiet", *(["--force"] if force else []), "origin", *refspecs)

    def tag(self, name: str, *, message: str | None = None, target: str = "HEAD") -> str:
        """A lightweight tag, or an annotated one with a message; returns the tag object's id."""
        git(self.work, "tag", *(["-a", "-m", message] if message else []), name, target)
        return git(self.work, "rev-parse", name)

    def log(self, ref: str = "HEAD") -> list[str]:
        return git(self.work, "rev-list", ref).split()
