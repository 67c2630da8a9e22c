"""detect stage: findings from learned profiles (deviations) and from rules.

Every source of findings is a :class:`Detector`; the agent asks each one about each event and
turns what they find into alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vigil.models import Event, Severity


class Finding(Protocol):
    """Something worth an alert, before the agent gives it an id and a response."""

    @property
    def kind(self) -> str: ...  # "deviation" | "rule"

    @property
    def rule(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def message(self) -> str: ...

    @property
    def mitre(self) -> list[str]: ...

    @property
    def event(self) -> Event: ...


class Detector(Protocol):
    def observe(self, event: Event) -> Sequence[Finding]: ...
