"""Identifiers every service validates the same way: project ids and patterns, commit shas, labels, paths."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_SEGMENT = r"[A-Za-z0-9_.][A-Za-z0-9_.+-]*"
_PROJECT_ID = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")
_SHA = re.compile(r"^[0-9a-f]{4,64}$")
# What the `qa` CLI sends as the "commit" of a run made outside any git repository.
_LOCAL_SHA = re.compile(r"^<local:[^<>\x00-\x1f]{1,64}>$")


def _project_id(value: str) -> str:
    if not _PROJECT_ID.match(value) or any(part in {".", ".."} for part in value.split("/")):
        raise ValueError(
            "a project id is one or more '/'-separated segments of letters, digits, '_', '.', '+'"
            " or '-' (e.g. 'group/repo' or 'group/repo/sub/dir'), without '.' or '..' segments"
        )
    return value


def _project_pattern(value: str) -> str:
    if value != "*":
        try:
            _project_id(value.removesuffix("/*"))
        except ValueError:
            raise ValueError(
                "a project pattern is '*', a project id ('group/repo'), or a project id followed by "
                "'/*' ('group/*': every project below group/)"
            ) from None
    return value


def _commit_sha(value: str) -> str:
    lowered = value.lower()
    if _SHA.match(lowered):
        return lowered
    if _LOCAL_SHA.match(value):
        return value
    raise ValueError("a commit sha is 4 to 64 hexadecimal digits")


def _safe_path(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a path cannot contain NUL characters")
    if ".." in value.replace("\\", "/").split("/"):
        raise ValueError("a path cannot contain '..' segments")
    return value


def _no_control_characters(value: str) -> str:
    if any(ord(char) < 0x20 for char in value):
        raise ValueError("cannot contain control characters (newlines, tabs, NUL...)")
    return value


ProjectId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_project_id),
]
# What a token may be restricted to: `*`, `group/repo` (that project), `group/*` (everything below group/).
ProjectPattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=257),
    AfterValidator(_project_pattern),
]
CommitSha = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_commit_sha)]
# A batch label, branch or tag name: free text, but one line of reasonable size.
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_control_characters)
]
# A path as the CLI reports it (test input, database, output directory): no NUL, no '..'.
SafePath = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_safe_path)]
