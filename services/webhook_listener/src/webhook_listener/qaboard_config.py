"""QA-Board's configuration rules: which folders are subprojects, and a subproject's merged config.

A folder of a repository is a QA-Board (sub)project when it holds a config file: its `qaboard.yaml`, or
where there is none, its `qatools.yaml` (QA-Board's older name, which QA-Board still reads: `find_configs`
in `qaboard/config.py`). A subproject's config is the config file of the repository root, then of each
folder down to the subproject, merged in that order (the deeper file wins), stopping at the deepest
ancestor whose file says `root: true`. The merge is QA-Board's own (`qaboard/config.py`, `merge`):
mappings merge key by key, recursively; any other value replaces the one before it unless it is empty or
false; in a list, the item `"super"` stands for the list it replaces.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from itertools import chain
from typing import Any

CONFIG_FILES = ("qaboard.yaml", "qatools.yaml")
"""A folder's config file names, the preferred first."""


def config_file(names: Collection[str]) -> str | None:
    """Which of a folder's files (`names`) is its config file, as QA-Board chooses; None: not a project."""
    return next((name for name in CONFIG_FILES if name in names), None)


def merge(source: dict[str, Any], destination: dict[str, Any]) -> dict[str, Any]:
    """Merge `source` into `destination` (mutated and returned), as QA-Board merges its config files."""
    for key, value in source.items():
        if isinstance(value, dict):
            node = destination.get(key)
            if not isinstance(node, dict):
                node = destination[key] = {}
            merge(value, node)
        elif value:
            if isinstance(value, list) and "super" in value:
                before = destination.get(key, [])
                before = before if isinstance(before, list) else [before]
                value = list(chain.from_iterable(before if item == "super" else [item] for item in value))
            destination[key] = value
    return destination


def folders_down_to(folder: str) -> list[str]:
    """'' (the root), then each folder down to `folder`: `a/b` → ['', 'a', 'a/b']."""
    if not folder:
        return [""]
    parts = folder.split("/")
    return ["", *("/".join(parts[: depth + 1]) for depth in range(len(parts)))]


def merged_config(configs: dict[str, dict[str, Any]], folder: str) -> dict[str, Any] | None:
    """The config of the (sub)project at `folder`, given every folder's own config file; None without a
    config file in `folder` or any of its ancestors."""
    chain_of_files = [configs[f] for f in folders_down_to(folder) if f in configs]
    if not chain_of_files:
        return None
    # the deepest file saying `root: true` starts the chain
    for index in range(len(chain_of_files) - 1, -1, -1):
        if chain_of_files[index].get("root"):
            chain_of_files = chain_of_files[index:]
            break
    merged: dict[str, Any] = {}
    for config in chain_of_files:
        merged = merge(copy.deepcopy(config), merged)
    return merged
