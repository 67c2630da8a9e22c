"""Rules: a Falco-compatible rule language and vigil's built-in pack (MITRE ATT&CK mapped).

Pipeline: YAML files → :func:`load_rule_files` (lists, macros, rules; append/override; every
error with file:line:column) → :func:`compile_ruleset` (macros and lists expanded, exceptions
added, one predicate per event type) → :class:`RuleEngine` (indexed by event type) →
:class:`RulesDetector` (profile awareness, egress policy, deduplication), which the agent runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from vigil.detect.rules.compiler import Compilation, CompiledRule, compile_ruleset
from vigil.detect.rules.dedup import Deduplicator
from vigil.detect.rules.egress import Destination, EgressGuard, EgressPolicy
from vigil.detect.rules.engine import RuleEngine, RuleMatch, RulesDetector
from vigil.detect.rules.fields import FieldRegistry
from vigil.detect.rules.loader import RuleSet, load_rule_files, load_rule_text
from vigil.detect.rules.model import RuleError
from vigil.detect.rules.profile import LockedProfiles, ProfileKnowledge


def builtin_rule_files() -> list[Path]:
    """The built-in pack's files, in load order."""
    folder = resources.files("vigil.detect.rules") / "builtin"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))


def compile_files(paths: Iterable[Path], registry: FieldRegistry | None = None) -> Compilation:
    return compile_ruleset(load_rule_files(paths), registry)


__all__ = [
    "Compilation",
    "CompiledRule",
    "Deduplicator",
    "Destination",
    "EgressGuard",
    "EgressPolicy",
    "FieldRegistry",
    "LockedProfiles",
    "ProfileKnowledge",
    "RuleEngine",
    "RuleError",
    "RuleMatch",
    "RuleSet",
    "RulesDetector",
    "builtin_rule_files",
    "compile_files",
    "compile_ruleset",
    "load_rule_files",
    "load_rule_text",
]
