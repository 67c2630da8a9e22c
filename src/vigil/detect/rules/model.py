"""Rule files as loaded, before compilation: lists, macros, rules and their exceptions.

All frozen: append and override build new values with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.detect.rules.source import SourceText
from vigil.models import Severity
from vigil.yamlnodes import Location

#: Falco priorities (case-insensitive) and vigil's own severities → vigil severity
PRIORITIES: dict[str, Severity] = {
    "emergency": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "notice": Severity.LOW,
    "low": Severity.LOW,
    "informational": Severity.INFO,
    "info": Severity.INFO,
    "debug": Severity.INFO,
}

_MITRE_TAG = re.compile(r"^(TA\d{4}|T\d{4}(\.\d{3})?)$")

#: what a profile-aware rule asks the workload's profile about
PROFILE_KINDS = ("executable", "destination")


def mitre_of(tags: tuple[str, ...]) -> tuple[str, ...]:
    """ATT&CK technique and tactic ids among a rule's tags (``T1059.004``, ``TA0002``)."""
    return tuple(tag for tag in tags if _MITRE_TAG.match(tag))


@dataclass(frozen=True, slots=True)
class RuleError:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class ListDef:
    name: str
    items: tuple[str, ...]
    location: Location


@dataclass(frozen=True, slots=True)
class MacroDef:
    name: str
    condition: SourceText
    location: Location


@dataclass(frozen=True, slots=True)
class ExceptionDef:
    """Falco's exception: ``fields``/``comps`` and tuples of ``values``; any tuple matching
    silences the rule. A single field (not a list) takes a flat list of values."""

    name: str
    fields: tuple[str, ...]
    comps: tuple[str, ...]
    values: tuple[tuple[str | tuple[str, ...], ...], ...]
    single: bool
    location: Location


@dataclass(frozen=True, slots=True)
class RuleDef:
    name: str
    desc: str
    condition: SourceText
    output: str
    output_location: Location
    priority: Severity
    tags: tuple[str, ...]
    enabled: bool
    exceptions: tuple[ExceptionDef, ...]
    source: str
    location: Location
    #: vigil: quiet when the workload's profile already knows this behaviour
    profile: str | None = None

    @property
    def mitre(self) -> tuple[str, ...]:
        return mitre_of(self.tags)
