"""JSON documents clients send us to keep verbatim (configs, metrics, run data).

PostgreSQL's JSONB and text types refuse what Python's JSON parser lets through (NaN, Infinity, NUL
characters, lone surrogates), so a request carrying one must be refused up front with a 422 naming the
place, not fail in the database with a 500.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32


def storable_problem(value: Any, path: str = "", depth: int = 0) -> str | None:
    """Describe the first value PostgreSQL could not store, or return None when all is storable."""
    where = path or "value"
    if depth > MAX_DEPTH:
        return f"{where}: nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: NaN and Infinity are not valid JSON numbers (send null)"
    if isinstance(value, str):
        return _string_problem(value, where)
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            problem = _string_problem(str(key), child) or storable_problem(item, child, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = storable_problem(item, f"{path}[{index}]", depth + 1)
            if problem:
                return problem
    return None


def _string_problem(value: str, where: str) -> str | None:
    if "\x00" in value:
        return f"{where}: NUL characters cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{where}: not valid Unicode (lone surrogate)"
    return None
