"""A QA-Board project in a temporary git repository, driven by the real `qa` CLI as a CI job would.

Layout (all under one temporary folder):

    repo/       qaboard.yaml, qa/main.py, qa/batches.yaml, qa/metrics.yaml   (a git repository)
    inputs/     the inputs database: small text files, each holding what `run()` reads
    storage/    where the CLI writes outputs and artifacts
    home/       $HOME of the CLI and of git: no user or system configuration leaks in

`qa/main.py` reads a number from the input, writes `result.json` and returns `psnr = 2 * value`,
`loss = 1 / value`; a negative value is reported as a failed run, a non-number makes `run()` raise.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from tests.qa_api.e2e.qa_api_process import AccessLine, LiveQaApi

CLI_TIMEOUT_S = 180

MAIN_PY = '''\
"""QA of the sample project: score the number written in each input."""

import json


def run(context):
    value = float(context.input_path.read_text())  # raises on a non-number: a crashed run
    (context.output_dir / "result.json").write_text(json.dumps({"value": value}))
    return {"psnr": 2 * value, "loss": 1 / value, "is_failed": value < 0}
'''

METRICS = {
    "available_metrics": {
        "psnr": {"label": "PSNR", "suffix": "dB", "smaller_is_better": False},
        "loss": {"label": "Loss", "smaller_is_better": True},
    },
    "default_metric": "psnr",
    "summary_metrics": ["psnr", "loss"],
    "main_metrics": ["psnr", "loss"],
}

# What the CLI prints when a request to QA-Board fails: it carries on, so the test must look.
CLI_REQUEST_FAILURES = (
    "Failed to update QA-Board",
    "Failed to contact the QA-Board server",
    "Failed to get info from QA-Board",
    "Can't understand the server response",
)


class ProjectFactory(Protocol):
    """Makes a `SampleProject` (the `make_project` fixture)."""

    def __call__(
        self,
        name: str,
        *,
        inputs: Mapping[str, str],
        batches: Mapping[str, Sequence[str]],
        token: str | None = ...,
    ) -> SampleProject: ...


@dataclass(frozen=True)
class CliRun:
    """One `qa` command: how it ended, what it printed, and the requests qa_api answered meanwhile."""

    argv: list[str]
    returncode: int
    transcript: str
    requests: list[AccessLine]

    def problems(self, *, commit_was_known: bool) -> list[str]:
        """Failed requests and the CLI's warnings about them.

        QA-Board answers 404 to the CLI's lookup of a commit it has never seen (`qa batch` asks for
        existing results before reporting anything): expected, but only for a new commit.
        """
        found = [
            f"the CLI printed: {line.strip()}"
            for line in self.transcript.splitlines()
            if any(failure in line for failure in CLI_REQUEST_FAILURES)
        ]
        for line in self.requests:
            first_lookup = (
                not commit_was_known
                and line.status == 404
                and line.method == "GET"
                and line.path.startswith("/api/v1/commit/")
            )
            if line.status >= 400 and not first_lookup:
                found.append(f"qa_api answered {line}")
        return found

    def describe(self) -> str:
        answered = "\n".join(f"  {line}" for line in self.requests)
        return (
            f"$ {' '.join(self.argv)}  (exit {self.returncode})\n{self.transcript}\n"
            f"qa_api answered:\n{answered}"
        )


class SampleProject:
    """The project's files, its git history, and a `qa` runner wired to a live qa_api."""

    def __init__(self, root: Path, *, name: str, venv: Path, server: LiveQaApi, token: str | None) -> None:
        self.name = name
        self.token = token
        """What the CI job exports as `QA_TOKEN` (None: nothing)."""
        self.repo = root / "repo"
        self.inputs = root / "inputs"
        self.storage = root / "storage"
        self.home = root / "home"
        self._venv = venv
        self._server = server

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        name: str,
        inputs: Mapping[str, str],
        batches: Mapping[str, Sequence[str]],
        venv: Path,
        server: LiveQaApi,
        token: str | None,
    ) -> SampleProject:
        """Write the project, its inputs and batches; `git init` it (nothing committed yet)."""
        project = cls(root, name=name, venv=venv, server=server, token=token)
        for folder in (project.repo / "qa", project.inputs, project.storage, project.home):
            folder.mkdir(parents=True)
        for input_name, content in inputs.items():
            (project.inputs / input_name).write_text(content)
        config = {
            "project": {
                "name": name,
                "url": f"https://git.example.com/{name}",
                "entrypoint": "qa/main.py",
                "reference_branch": "master",
            },
            "inputs": {"database": {"linux": str(project.inputs)}, "batches": ["qa/batches.yaml"]},
            "outputs": {"metrics": "qa/metrics.yaml"},
            # as in qaboard's sample project: all runs of a batch at once
            "runners": {"local": {"concurrency": -1}},
            "storage": {"linux": str(project.storage)},
        }
        # JSON is YAML: no YAML writer needed on our side.
        (project.repo / "qaboard.yaml").write_text(json.dumps(config, indent=2))
        (project.repo / "qa" / "main.py").write_text(MAIN_PY)
        (project.repo / "qa" / "metrics.yaml").write_text(json.dumps(METRICS, indent=2))
        (project.repo / "qa" / "batches.yaml").write_text(
            json.dumps({label: {"inputs": list(names)} for label, names in batches.items()}, indent=2)
        )
        project.git("-c", "init.defaultBranch=master", "init", "--quiet")
        project.git("config", "user.name", "Jane Dev")
        project.git("config", "user.email", "jane@example.com")
        project.git("config", "commit.gpgsign", "false")
        return project

    def commit(self, message: str, files: Mapping[str, str] | None = None) -> str:
        """Write `files` (paths relative to the repository), commit everything, return the sha."""
        for relative, content in (files or {}).items():
            (self.repo / relative).write_text(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", message)
        return self.git("rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.repo,
            env=self._base_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout.strip()

    def qa(
        self, *args: str, sha: str, expect_exit: int | None = 0, branch: str = "master", check: bool = True
    ) -> CliRun:
        """Run `qa ARGS` in the repository as a GitLab CI job on `sha` of `branch` would.

        Fails unless the CLI exits with `expect_exit` (None: any) and, when `check`, every request it
        made succeeded: the CLI only warns when QA-Board answers with an error, so that is checked
        here, on every run.
        """
        env = {
            **self._base_env(),
            "CI": "true",
            "CI_COMMIT_SHA": sha,
            "CI_COMMIT_REF_NAME": branch,
            "QABOARD_URL": self._server.url,
            "QA_NO_CHECK_FOR_UPDATES": "1",
            "QA_USER": "ci-runner",
        }
        if self.token is not None:
            env["QA_TOKEN"] = self.token
        argv = [str(self._venv / "bin" / "qa"), *args]
        commit_was_known = self._commit_is_known(sha)
        mark = self._server.mark()
        try:
            result = subprocess.run(
                argv,
                cwd=self.repo,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                check=False,
                timeout=CLI_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as timeout:
            printed = timeout.output
            if isinstance(printed, bytes):
                printed = printed.decode(errors="replace")
            raise AssertionError(
                f"`qa {' '.join(args)}` still running after {CLI_TIMEOUT_S}s:\n{printed or ''}"
            ) from timeout
        run = CliRun(
            argv=["qa", *args],
            returncode=result.returncode,
            transcript=result.stdout,
            requests=self._server.requests_since(mark),
        )
        problems = run.problems(commit_was_known=commit_was_known)
        if expect_exit is not None:
            assert run.returncode == expect_exit, f"expected exit {expect_exit}\n{run.describe()}"
        if check:
            assert not problems, "\n".join([*problems, run.describe()])
        return run

    def _commit_is_known(self, sha: str) -> bool:
        response = httpx.get(
            f"{self._server.url}/api/v2/commits/{sha}",
            params={"project": self.name},
            timeout=10,
            trust_env=False,
        )
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200

    def _base_env(self) -> dict[str, str]:
        # A clean environment: no CI variables, git configuration or Python settings of the machine
        # running the tests; PATH puts the venv's `qa` first, as `qa batch` runs `qa run` through a shell.
        return {
            "PATH": f"{self._venv / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
