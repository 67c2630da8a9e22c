"""The record stage's settings: ``store:``, ``incidents:`` and ``outputs:``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from vigil.errors import truncate
from vigil.setting_types import SETTINGS, Window, str_list

STORE_SCHEMES = ("postgresql://", "postgres://", "sqlite:")


def output_spec_problem(spec: str) -> str | None:
    """Why an ``--output`` spec is invalid, or ``None`` when it is fine."""
    if spec == "stdout":
        return None
    scheme, _, target = spec.partition(":")
    if scheme == "jsonl":
        return None if target else "output 'jsonl:' needs a path, e.g. jsonl:/var/log/vigil.jsonl"
    return f"unknown output {truncate(spec, 60)!r} (known: stdout, jsonl:PATH)"


def _output(value: Any) -> str:
    problem = output_spec_problem(str(value))
    if problem:
        raise ValueError(f": {problem}")
    return str(value)


def _store_url(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not value.startswith(STORE_SCHEMES)):
        raise ValueError("must be a postgresql://user:password@host/db URL")
    return value


Outputs = Annotated[tuple[Annotated[str, BeforeValidator(_output)], ...], BeforeValidator(str_list)]


class StoreSection(BaseModel):
    model_config = SETTINGS

    #: a database URL; ``None`` = SQLite in the data dir
    url: Annotated[str | None, BeforeValidator(_store_url)] = None


class IncidentsSection(BaseModel):
    model_config = SETTINGS

    #: alerts of one workload at most this many seconds apart join one incident
    window: Window = 600.0
