"""The respond stage's settings: ``playbooks:`` (match → mode → ladder of actions) and
``response:`` (guardrails shared by every playbook). Action names come from the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, model_validator
from pydantic.dataclasses import dataclass as settings_dataclass
from pydantic_core import PydanticCustomError

from vigil.errors import truncate
from vigil.models import Severity
from vigil.respond.registry import ACTION_NAMES
from vigil.setting_types import (
    DATACLASS_SETTINGS,
    SETTINGS,
    Count,
    Flag,
    NonNegative,
    Seconds,
    StrList,
    Text,
    str_list,
)
from vigil.yamlnodes import did_you_mean

PLAYBOOK_MODES = ("alert", "approve", "auto")
ALERT_KINDS = ("deviation", "rule")
DEFAULT_ACTION_TIMEOUT = 5.0
#: key names left out when an error is named: a step's errors name its playbook
#: (``playbooks[0]: unknown action 'x'``, ``playbooks[0].timeout …``)
REPORTED_AT_PLAYBOOK = ("actions", "action-name", "action-step")


def _action_name(value: Any) -> str:
    name = None if isinstance(value, dict | list) else str(value)
    if name not in ACTION_NAMES:
        shown = truncate(name if name is not None else "?", 40)
        message = f": unknown action {shown!r} (known: {', '.join(ACTION_NAMES)})"
        message += did_you_mean(name or "", ACTION_NAMES)
        raise PydanticCustomError("of_mapping", message)  # named as its step's playbook
    return name


def _one_of(allowed: tuple[str, ...], convert: type = str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if str(value) not in allowed:
            raise ValueError(f": {truncate(value, 40)!r} is not one of {', '.join(allowed)}")
        return convert(value)

    return BeforeValidator(check)


def _labels(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    if isinstance(value, tuple):
        return value
    raise ValueError("must be a mapping")


def _mode(value: Any) -> str:
    if str(value) not in PLAYBOOK_MODES:
        raise ValueError(f"must be one of {', '.join(PLAYBOOK_MODES)}")
    return str(value)


def _listed(value: Any) -> Any:
    return value if isinstance(value, list | tuple) else [value]


ActionName = Annotated[str, BeforeValidator(_action_name)]
_SEVERITY_NAMES = tuple(s.value for s in Severity)


@settings_dataclass(frozen=True, config=DATACLASS_SETTINGS)
class PlaybookMatch:
    """Every non-empty criterion must hold (AND); within one, any value may match (OR)."""

    kinds: Annotated[frozenset[Annotated[str, _one_of(ALERT_KINDS)]], BeforeValidator(str_list)] = (
        Field(default=frozenset(), validation_alias="kind")
    )
    severities: Annotated[
        frozenset[Annotated[Severity, _one_of(_SEVERITY_NAMES, Severity)]],
        BeforeValidator(str_list),
    ] = Field(default=frozenset(), validation_alias="severity")
    rules: Annotated[frozenset[str], BeforeValidator(str_list)] = Field(
        default=frozenset(), validation_alias="rule"
    )
    namespaces: Annotated[frozenset[str], BeforeValidator(str_list)] = Field(
        default=frozenset(), validation_alias="namespace"
    )
    #: an alert's tags or MITRE ids
    tags: Annotated[frozenset[str], BeforeValidator(str_list)] = frozenset()
    #: workload selectors (glob): ``ns/Kind/name/container``, ``ns/name`` or ``name``
    workloads: Annotated[frozenset[str], BeforeValidator(str_list)] = Field(
        default=frozenset(), validation_alias="workload"
    )
    #: label (or OCI annotation) ``key: value`` pairs the container must carry
    labels: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_labels)] = ()


@settings_dataclass(frozen=True, config=DATACLASS_SETTINGS)
class ActionStep:
    """One rung of a playbook's ladder: an action, bounded in time, with a fallback."""

    action: ActionName
    #: runs instead when ``action`` fails or times out
    fallback: ActionName | None = None
    timeout: Seconds = DEFAULT_ACTION_TIMEOUT


def _written_as(value: Any) -> str:
    return "action-step" if isinstance(value, dict | ActionStep) else "action-name"


#: as written: an action name, or a mapping with fallback/timeout
ActionItem = Annotated[
    Annotated[ActionName, Tag("action-name")] | Annotated[ActionStep, Tag("action-step")],
    Discriminator(_written_as),
]


@settings_dataclass(frozen=True, config=DATACLASS_SETTINGS)
class Playbook:
    name: Text
    match: PlaybookMatch = PlaybookMatch()
    mode: Annotated[str, BeforeValidator(_mode)] = "alert"
    #: as written: an action name, or an :class:`ActionStep` with fallback/timeout
    actions: Annotated[tuple[ActionItem, ...], BeforeValidator(_listed)] = ()
    #: ``None`` follows the global ``response.dry_run``
    dry_run: Flag | None = None

    @model_validator(mode="after")
    def _acts_when_it_must(self) -> Playbook:
        if self.mode in ("auto", "approve") and not self.actions:
            message = f": mode {self.mode!r} needs at least one action"
            raise PydanticCustomError("of_mapping", message)
        return self

    @property
    def steps(self) -> tuple[ActionStep, ...]:
        return tuple(a if isinstance(a, ActionStep) else ActionStep(a) for a in self.actions)


def name_playbooks(value: Any) -> Any:
    """A playbook without a name is called ``playbook-N`` after its place in the list."""
    if not isinstance(value, list):
        raise ValueError("must be a list")
    return [
        {"name": f"playbook-{index + 1}", **item} if isinstance(item, dict) else item
        for index, item in enumerate(value)
    ]


@dataclass(frozen=True, slots=True)
class ResponseConfig:
    """Guardrails that hold for every playbook."""

    dry_run: bool = False
    #: never acted on (``kube-system`` and the agent's own are always added)
    protected_namespaces: frozenset[str] = frozenset({"kube-system"})
    #: the agent's own namespace, when it runs in Kubernetes (else $POD_NAMESPACE)
    agent_namespace: str | None = None
    #: at most this many actions per workload / overall per ``rate_window`` seconds
    rate_per_workload: int = 10
    rate_overall: int = 60
    rate_window: float = 60.0
    #: the same action on the same workload at most once per cooldown (seconds)
    cooldown: float = 30.0
    #: a pod is deleted only if its owner keeps at least this many ready replicas
    min_healthy_replicas: int = 1
    #: how long an action waits for approval before it expires (seconds)
    approval_timeout: float = 900.0
    #: capture forensics before the first destructive action of a ladder
    forensics_before_destroy: bool = True


_DEFAULT = ResponseConfig()


class RateLimitSection(BaseModel):
    model_config = SETTINGS

    per_workload: Count = _DEFAULT.rate_per_workload
    overall: Count = _DEFAULT.rate_overall
    window: Seconds = _DEFAULT.rate_window


class ResponseSection(BaseModel):
    """``response:`` as written."""

    model_config = SETTINGS

    dry_run: Flag = _DEFAULT.dry_run
    protected_namespaces: StrList = ()
    agent_namespace: Text | None = None
    rate_limit: RateLimitSection = RateLimitSection()
    cooldown: NonNegative = _DEFAULT.cooldown
    min_healthy_replicas: Count = _DEFAULT.min_healthy_replicas
    approval_timeout: NonNegative = _DEFAULT.approval_timeout
    forensics_before_destroy: Flag = _DEFAULT.forensics_before_destroy

    def config(self) -> ResponseConfig:
        return ResponseConfig(
            dry_run=self.dry_run,
            protected_namespaces=frozenset({"kube-system", *self.protected_namespaces}),
            agent_namespace=self.agent_namespace,
            rate_per_workload=self.rate_limit.per_workload,
            rate_overall=self.rate_limit.overall,
            rate_window=self.rate_limit.window,
            cooldown=self.cooldown,
            min_healthy_replicas=self.min_healthy_replicas,
            approval_timeout=self.approval_timeout,
            forensics_before_destroy=self.forensics_before_destroy,
        )
