"""The detect stage's settings: ``rules:`` (files, built-ins, dedup, egress) and ``profiles:``
(the learning policy, per namespace and workload)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vigil.detect.policy import PolicyOverride, ProfilePolicies
from vigil.errors import truncate
from vigil.setting_types import (
    SETTINGS,
    BareFlag,
    NonNegative,
    PositiveWhole,
    StrList,
    Text,
    str_list,
)

DEFAULT_LEARNING_PERIOD = 600.0


@dataclass(frozen=True, slots=True)
class EgressRule:
    """A workload (key, ``ns/name`` or name) or namespace that may not reach the internet
    except ``allow`` (``CIDR``, ``IP``, ``IP:PORT``)."""

    selector: str
    allow: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RulesConfig:
    builtin: bool = True
    files: tuple[Path, ...] = ()
    #: seconds within which repeats of a rule in one container are counted, not alerted
    dedup_window: float = 60.0
    egress: tuple[EgressRule, ...] = ()


def _destination(value: Any) -> str:
    from vigil.detect.rules.egress import Destination

    try:
        Destination.parse(str(value))
    except ValueError:
        raise ValueError(f": {truncate(value, 60)!r} is not CIDR, IP or IP:PORT") from None
    return str(value)


def _egress_list(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of {workload|namespace, allow}")
    return value


class EgressSection(BaseModel):
    model_config = SETTINGS

    workload: Text | None = None
    namespace: Text | None = None
    allow: Annotated[
        tuple[Annotated[str, BeforeValidator(_destination)], ...], BeforeValidator(str_list)
    ] = ()

    @model_validator(mode="after")
    def _one_selector(self) -> EgressSection:
        if (self.workload is None) == (self.namespace is None):
            raise ValueError("needs exactly one of workload or namespace")
        return self

    def rule(self) -> EgressRule:
        return EgressRule(selector=str(self.workload or self.namespace), allow=self.allow)


class RulesSection(BaseModel):
    """``rules:`` as written."""

    model_config = SETTINGS

    builtin: BareFlag = True
    files: StrList = ()
    dedup_window: NonNegative = 60.0
    egress: Annotated[tuple[EgressSection, ...], BeforeValidator(_egress_list)] = ()

    def config(self) -> RulesConfig:
        return RulesConfig(
            builtin=self.builtin,
            files=tuple(Path(f) for f in self.files),
            dedup_window=self.dedup_window,
            egress=tuple(e.rule() for e in self.egress),
        )


class PolicySettings(BaseModel):
    """The ProfilePolicy fields one mapping sets (the section, or one override)."""

    model_config = SETTINGS

    auto_lock: BareFlag = True
    min_learning: NonNegative = 0.0
    max_learning: NonNegative | None = None
    stability_events: PositiveWhole = 1
    stability_seconds: NonNegative = 0.0
    max_items: PositiveWhole = 1

    def given(self) -> dict[str, object]:
        return {key: getattr(self, key) for key in type(self).model_fields if self._set(key)}

    def _set(self, key: str) -> bool:
        return key in self.model_fields_set and key in PolicySettings.model_fields


class _Selector(BaseModel):
    model_config = SETTINGS

    namespace: Text | None = None
    workload: Text | None = Field(default=None, validate_default=True)

    @field_validator("workload")
    @classmethod
    def _selects(cls, workload: str | None, info: ValidationInfo) -> str | None:
        # a field validator (not a model one), so it holds even when a setting is wrong
        if workload is None and info.data.get("namespace") is None:
            raise PydanticCustomError("of_mapping", "needs a namespace or a workload")
        return workload


class OverrideSection(PolicySettings, _Selector):
    """One of ``profiles.overrides``: the selector, then the settings it changes."""


class _LegacyPeriod(BaseModel):
    model_config = SETTINGS

    learning_period: NonNegative | None = DEFAULT_LEARNING_PERIOD


class ProfilesSection(PolicySettings, _LegacyPeriod):
    """``profiles:``: the default policy, ``learning_period`` (older name), ``overrides``."""

    overrides: tuple[OverrideSection, ...] = ()

    @model_validator(mode="after")
    def _bounds_in_order(self) -> ProfilesSection:
        default = self.policies().default
        if default.max_learning is not None and default.min_learning > default.max_learning:
            raise ValueError(".min_learning must not exceed profiles.max_learning")
        return self

    def policies(self) -> ProfilePolicies:
        base = ProfilePolicies.from_learning_period(self.learning_period).default
        default = replace(base, **self.given())  # type: ignore[arg-type]
        overrides = tuple(
            PolicyOverride(settings=o.given(), namespace=o.namespace, workload=o.workload)
            for o in self.overrides
        )
        return ProfilePolicies(default, overrides)
