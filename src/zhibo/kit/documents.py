"""Rules as data: reading TOML/YAML/JSON documents and validating them with Pydantic, with
errors that name each bad field.

Settlement policies, grading models, risk rules and the risk lexicon are all such documents;
they share this so a bad file reads the same everywhere: ``source: field.path: reason; ...``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from zhibo.kit.errors import ZhiboError

M = TypeVar("M", bound=BaseModel)

#: The file formats a document may come in, by suffix.
SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def describe(exc: ValidationError) -> str:
    """Each error as ``field.path: reason`` (a whole-document check names its field itself)."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{location}: {message}" if location else message)
    return "; ".join(problems)


def validated(model: type[M], data: Any, source: str, error: type[ZhiboError]) -> M:
    """``data`` as a ``model``, or ``error`` naming the source and every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {describe(exc)}") from exc


def read_document(
    path: Path,
    error: type[ZhiboError],
    *,
    unreadable: type[ZhiboError] | None = None,
    suffixes: tuple[str, ...] = SUFFIXES,
) -> Any:
    """The parsed content of a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file.

    A file that cannot be read raises ``unreadable`` (default ``error``); one that cannot be
    parsed, or has another suffix, raises ``error``; both name the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise error(f"{path}: use a {', '.join(suffixes)} file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise (unreadable or error)(f"{path}: cannot read ({reason})") from exc
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot parse {suffix[1:]} ({exc})") from exc
