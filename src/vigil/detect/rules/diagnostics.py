"""What compiling finds besides code: errors (each place and message once) and, for the rule
being compiled, whether it failed and which Falco fields and event types it named that vigil
cannot fill."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from vigil.detect.rules.model import RuleError
from vigil.detect.rules.source import SourceText


@dataclass
class RuleState:
    failed: bool = False
    missing_fields: set[str] = field(default_factory=set)
    missing_types: set[str] = field(default_factory=set)


class Diagnostics:
    def __init__(self) -> None:
        self.errors: dict[tuple[str, str], RuleError] = {}
        #: the rule being compiled (replaced by :meth:`start_rule`)
        self.rule = RuleState()

    def start_rule(self) -> RuleState:
        self.rule = RuleState()
        return self.rule

    def report(self, error: RuleError) -> None:
        self.rule.failed = True
        self.errors.setdefault((str(error.location), error.message), error)

    def error(self, source: SourceText, pos: int, message: str) -> None:
        self.report(RuleError(source.locate(pos), message))

    @contextmanager
    def not_failing_rule(self) -> Iterator[None]:
        """Errors inside are recorded but do not fail the rule being compiled (a macro's own
        errors fail the rules that use it, when they use it)."""
        failed = self.rule.failed
        try:
            yield
        finally:
            self.rule.failed = failed
