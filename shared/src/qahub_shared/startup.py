"""How a program of QA Hub reads its settings: a configuration mistake is explained, not a traceback.

`load_settings` reads a service's settings class from the environment and its `.env` file. A value that
is not allowed stops the program with status 2 and one line per problem on stderr, naming the variable,
the value given and what is allowed:

    qa_api: QAHUB_ENV='prod' is not allowed: dev or production
    qa_api: QAHUB_QA_API_PORT='abc' is not allowed: an integer from 1 to 65535

A secret's value (a `SecretStr` field) is never shown, nor the value of a URL setting (`*_url`: a URL
that is not valid may hold its password anywhere), nor the credentials of a URL elsewhere. `start_service`,
what each service's `__main__` calls, also configures logging and warns (one WARNING line each) about
every `QAHUB_` variable that nothing of QA Hub reads, with the known name closest to it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import types
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import annotated_types
from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsError

from qahub_shared.logging import configure_logging
from qahub_shared.variables import UnknownVariable, unknown_variables

S = TypeVar("S", bound=BaseSettings)

EXIT_BAD_SETTINGS = 2
ENVIRONMENT = "the environment"
_MAX_SHOWN = 120
_URL_CREDENTIALS = re.compile(r"://[^\s]*@")
_SETTINGS_ERROR_FIELD = re.compile(r'field "([^"]+)"')


def start_service(settings_class: type[S], *, program: str) -> S:
    """The settings (or exit status 2, as `load_settings`), logging configured from them, and a WARNING
    per unknown `QAHUB_` variable."""
    settings = load_settings(settings_class, program=program)
    level, json_lines = getattr(settings, "log_level", "INFO"), getattr(settings, "log_json", False)
    configure_logging(level=level, json_lines=json_lines)
    logger = logging.getLogger(program)
    for unknown in find_unknown_variables(settings_class):
        logger.warning("%s", unknown)
    return settings


def load_settings(settings_class: type[S], *, program: str) -> S:
    """`settings_class()`; when a value is not allowed, one line per problem (and per unknown `QAHUB_`
    variable, a likely cause) on stderr, prefixed `program: `, and exit status 2."""
    try:
        return settings_class()
    except ValidationError as error:
        problems = _validation_problems(settings_class, error)
    except SettingsError as error:
        # pydantic-settings' own error, for a value that is not even JSON where JSON is expected
        problems = [_settings_error_problem(settings_class, error)]
    except (UnicodeDecodeError, OSError) as error:
        # the `.env` file itself: not UTF-8, or unreadable
        print(f"{program}: cannot read {_env_file_names(settings_class)}: {error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SETTINGS) from None
    for line in dict.fromkeys([*problems, *map(str, find_unknown_variables(settings_class))]):
        print(f"{program}: {line}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_SETTINGS)


def find_unknown_variables(settings_class: type[BaseSettings]) -> list[UnknownVariable]:
    """The unknown `QAHUB_` variables in the environment and in the `.env` file(s) `settings_class`
    reads."""
    sources: dict[str, list[str]] = {ENVIRONMENT: list(os.environ)}
    for path in _env_files(settings_class):
        sources[str(path)] = list(_read_env_file(settings_class, path))
    return unknown_variables(sources)


def _validation_problems(settings_class: type[BaseSettings], error: ValidationError) -> list[str]:
    given = _given_values(settings_class)
    problems: list[str] = []
    for detail in error.errors():
        message = str(detail["msg"]).removeprefix("Value error, ")
        field_name = str(detail["loc"][0]) if detail["loc"] else None
        field = settings_class.model_fields.get(field_name) if field_name else None
        if field_name is None or field is None:
            # a check of several settings together: its message names the variables
            problems.append(message)
            continue
        variable = _variable(settings_class, field_name)
        allowed = message if detail["type"] == "value_error" else _allowed(field)
        shown = _shown(field_name, field, given.get(variable, detail.get("input")))
        problems.append(f"{variable}={shown} is not allowed: {allowed}")
    return problems


def _settings_error_problem(settings_class: type[BaseSettings], error: SettingsError) -> str:
    match = _SETTINGS_ERROR_FIELD.search(str(error))
    field = settings_class.model_fields.get(match.group(1)) if match else None
    if match is None or field is None:
        return str(error)
    variable = _variable(settings_class, match.group(1))
    shown = _shown(match.group(1), field, _given_values(settings_class).get(variable))
    return f"{variable}={shown} is not allowed: {_allowed(field)}"


def _variable(settings_class: type[BaseSettings], field_name: str) -> str:
    return (str(settings_class.model_config.get("env_prefix", "")) + field_name).upper()


def _given_values(settings_class: type[BaseSettings]) -> dict[str, str]:
    """Upper-case name → value, as the settings see them: the environment wins over `.env`."""
    given: dict[str, str] = {}
    for path in _env_files(settings_class):
        given.update((name.upper(), value) for name, value in _read_env_file(settings_class, path).items())
    given.update((name.upper(), value) for name, value in os.environ.items())
    return given


def _env_file_names(settings_class: type[BaseSettings]) -> str:
    return ", ".join(map(str, _env_files(settings_class))) or "the settings"


def _env_files(settings_class: type[BaseSettings]) -> Iterator[Path]:
    configured = settings_class.model_config.get("env_file")
    if configured is None:
        return
    for path in [configured] if isinstance(configured, str | Path) else configured:
        if Path(path).is_file():
            yield Path(path)


def _read_env_file(settings_class: type[BaseSettings], path: Path) -> Mapping[str, str]:
    encoding = settings_class.model_config.get("env_file_encoding")
    values = dotenv_values(path, encoding=encoding or "utf-8")
    return {name: value for name, value in values.items() if value is not None}


def _shown(name: str, field: FieldInfo, value: Any) -> str:
    # A URL that is not a valid one may hold a password anywhere (no scheme, a libpq keyword string, a
    # space in the password): never shown, like a secret.
    if SecretStr in _kinds(field) or name.endswith("_url"):
        return "<hidden>"
    text = value if isinstance(value, str) else repr(value)
    text = _URL_CREDENTIALS.sub("://***@", text)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return repr(text)


def _kinds(field: FieldInfo) -> tuple[Any, ...]:
    """The types a field's annotation admits (`int | None` → int, NoneType), without their parameters."""

    def flatten(annotation: Any) -> Iterator[Any]:
        origin = get_origin(annotation)
        if origin is Union or origin is types.UnionType:
            for member in get_args(annotation):
                yield from flatten(member)
        else:
            yield origin or annotation

    return tuple(flatten(field.annotation))


def _allowed(field: FieldInfo) -> str:
    """What a field accepts, in words."""
    kinds = _kinds(field)
    kind = next((k for k in kinds if k is not type(None)), str)
    if isinstance(kind, type) and issubclass(kind, Enum):
        text = " or ".join(str(member.value) for member in kind)
    elif kind is bool:
        text = "true or false"
    elif kind is int:
        text = "an integer" + _bounds(field)
    elif kind is float:
        text = "a number" + _bounds(field)
    elif kind is dict:
        text = "a JSON object"
    elif kind is list:
        text = "a JSON list"
    elif kind is Path:
        text = "a path"
    else:
        text = "text" + _text_constraints(field)
    return text + (" (or empty: unset)" if type(None) in kinds else "")


def _bounds(field: FieldInfo) -> str:
    lower: tuple[str, Any] | None = None
    upper: tuple[str, Any] | None = None
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            lower = ("at least", rule.ge)
        elif isinstance(rule, annotated_types.Gt):
            lower = ("greater than", rule.gt)
        elif isinstance(rule, annotated_types.Le):
            upper = ("at most", rule.le)
        elif isinstance(rule, annotated_types.Lt):
            upper = ("less than", rule.lt)
    if lower and upper and (lower[0], upper[0]) == ("at least", "at most"):
        return f" from {_number(lower[1])} to {_number(upper[1])}"
    words = [f"{relation} {_number(value)}" for relation, value in filter(None, (lower, upper))]
    return " " + " and ".join(words) if words else ""


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _text_constraints(field: FieldInfo) -> str:
    for rule in field.metadata:
        if pattern := getattr(rule, "pattern", None):
            return f" matching {pattern}"
        if isinstance(rule, annotated_types.MinLen):
            return f" of at least {rule.min_length} characters"
    return ""
