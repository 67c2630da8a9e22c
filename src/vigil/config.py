"""Agent configuration: YAML in, an immutable, validated :class:`AgentConfig` out.

Each stage owns its settings (``vigil.<stage>.settings``); this module only composes them.
Every problem is collected with its file and line and reported together, so a user fixes a
config in one pass rather than one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator

from vigil import yamlnodes
from vigil.api.settings import DEFAULT_LISTEN, ApiSection, split_listen
from vigil.detect.policy import ProfilePolicies
from vigil.detect.settings import (
    DEFAULT_LEARNING_PERIOD,
    ProfilesSection,
    RulesConfig,
    RulesSection,
)
from vigil.errors import ConfigError, truncate
from vigil.kube.settings import KubernetesConfig
from vigil.record.settings import IncidentsSection, Outputs, StoreSection, output_spec_problem
from vigil.respond.settings import (
    REPORTED_AT_PLAYBOOK,
    Playbook,
    ResponseConfig,
    ResponseSection,
    name_playbooks,
)
from vigil.sensor.settings import DEFAULT_BTF, DEFAULT_RINGBUF_BYTES, SensorSection
from vigil.setting_types import SETTINGS

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_LEARNING_PERIOD",
    "DEFAULT_LISTEN",
    "AgentConfig",
    "load_config",
    "output_spec_problem",
    "parse_config",
    "split_listen",
    "with_learning_period",
]

DEFAULT_DATA_DIR = Path("/var/lib/vigil")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    listen: str = DEFAULT_LISTEN
    #: seconds of learning after a profile's first event; ``None`` = only `vigil profiles lock`
    learning_period: float | None = DEFAULT_LEARNING_PERIOD
    #: convergence, learning bounds and cap, per namespace and workload; when ``None``, derived
    #: from ``learning_period`` (see ProfilePolicies.from_learning_period)
    profile_policies: ProfilePolicies | None = None
    outputs: tuple[str, ...] = ()
    playbooks: tuple[Playbook, ...] = ()
    response: ResponseConfig = field(default_factory=ResponseConfig)
    btf_path: Path = DEFAULT_BTF
    ringbuf_bytes: int = DEFAULT_RINGBUF_BYTES
    rules: RulesConfig = field(default_factory=RulesConfig)
    #: a database URL (``postgresql://user:password@host/db``); ``None`` = SQLite in the data dir
    store_url: str | None = None
    #: alerts of one workload at most this many seconds apart join one incident
    incident_window: float = 600.0
    #: "proc-connector": when eBPF cannot load, watch exec/exit over netlink instead
    sensor_fallback: str | None = None
    #: path prefixes the kernel reports opens for read of / writes below (None: the defaults)
    watch_read: tuple[str, ...] | None = None
    watch_write: tuple[str, ...] | None = None
    source: str | None = field(default=None, compare=False)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)


class ConfigDocument(BaseModel):
    """The configuration file as written: one section per stage."""

    model_config = SETTINGS

    api: ApiSection = ApiSection()
    profiles: ProfilesSection | None = None
    outputs: Outputs = ()
    playbooks: Annotated[tuple[Playbook, ...], BeforeValidator(name_playbooks)] = ()
    response: ResponseSection = ResponseSection()
    sensor: SensorSection = SensorSection()
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    rules: RulesSection = RulesSection()
    store: StoreSection = StoreSection()
    incidents: IncidentsSection = IncidentsSection()

    def agent_config(self, source: str) -> AgentConfig:
        profiles = self.profiles
        return AgentConfig(
            listen=self.api.listen,
            learning_period=profiles.learning_period if profiles else DEFAULT_LEARNING_PERIOD,
            profile_policies=profiles.policies() if profiles else None,
            outputs=self.outputs,
            playbooks=self.playbooks,
            response=self.response.config(),
            btf_path=self.sensor.btf,
            ringbuf_bytes=self.sensor.ringbuf_bytes,
            rules=self.rules.config(),
            store_url=self.store.url,
            incident_window=self.incidents.window,
            sensor_fallback=self.sensor.fallback,
            watch_read=self.sensor.watch.read,
            watch_write=self.sensor.watch.write,
            source=source,
            kubernetes=self.kubernetes,
        )


def parse_config(text: str, path: str = "<config>") -> AgentConfig:
    """Parse and validate YAML text; raise :class:`ConfigError` listing every problem."""
    root = yamlnodes.compose(text, path)
    if root is None:
        return AgentConfig(source=path)
    problems = yamlnodes.Problems(path)
    if not yamlnodes.is_mapping(root):
        problems.add(root, "the configuration must be a mapping")
        problems.raise_any()
    yamlnodes.check_keys(ConfigDocument, root, "", problems)
    document = yamlnodes.validate(ConfigDocument, root, problems, hidden=REPORTED_AT_PLAYBOOK)
    problems.raise_any()
    assert document is not None  # validate reports every reason it returns None
    return document.agent_config(path)


def with_learning_period(config: AgentConfig, seconds: float) -> AgentConfig:
    """``config`` with every profile's maximum learning time set to ``seconds``."""
    policies = config.profile_policies or ProfilePolicies.from_learning_period(seconds)
    default = replace(
        policies.default,
        auto_lock=True,
        max_learning=seconds,
        min_learning=min(policies.default.min_learning, seconds),
    )
    return replace(
        config, learning_period=seconds, profile_policies=replace(policies, default=default)
    )


def load_config(path: Path) -> AgentConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {truncate(exc, 120)}", path=str(path)) from None
    return parse_config(text, str(path))
