"""Agent configuration: YAML in, an immutable, validated :class:`AgentConfig` out.

Every problem is collected with its file and line (pySigma style) and reported together, so a
user fixes a config in one pass rather than one error per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from vigil.detect.policy import POLICY_FIELDS, PolicyOverride, ProfilePolicies
from vigil.errors import ConfigError, truncate
from vigil.models import Severity

DEFAULT_LISTEN = "127.0.0.1:7070"
DEFAULT_DATA_DIR = Path("/var/lib/vigil")
DEFAULT_LEARNING_PERIOD = 600.0
PLAYBOOK_MODES = ("alert", "approve", "auto")
#: every action a playbook may name (the respond stage implements each one)
KNOWN_ACTIONS = (
    "block-exec",
    "enforce-profile",
    "kill",
    "kill-tree",
    "freeze",
    "thaw",
    "forensics",
    "stop-container",
    "kill-container",
    "delete-pod",
    "isolate-pod",
    "scale-to-zero",
    "label-pod",
    "annotate-pod",
    "cordon-node",
    "k8s-event",
)
ALERT_KINDS = ("deviation", "rule")
DEFAULT_ACTION_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class PlaybookMatch:
    """Every non-empty criterion must hold (AND); within one, any value may match (OR)."""

    kinds: frozenset[str] = frozenset()
    severities: frozenset[Severity] = frozenset()
    rules: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    #: an alert's tags or MITRE ids
    tags: frozenset[str] = frozenset()
    #: workload selectors (glob): ``ns/Kind/name/container``, ``ns/name`` or ``name``
    workloads: frozenset[str] = frozenset()
    #: label (or OCI annotation) ``key: value`` pairs the container must carry
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ActionStep:
    """One rung of a playbook's ladder: an action, bounded in time, with a fallback."""

    action: str
    #: runs instead when ``action`` fails or times out
    fallback: str | None = None
    timeout: float = DEFAULT_ACTION_TIMEOUT


@dataclass(frozen=True, slots=True)
class Playbook:
    name: str
    match: PlaybookMatch
    mode: str
    #: as written: an action name, or an :class:`ActionStep` with fallback/timeout
    actions: tuple[str | ActionStep, ...]
    #: ``None`` follows the global ``response.dry_run``
    dry_run: bool | None = None

    @property
    def steps(self) -> tuple[ActionStep, ...]:
        return tuple(a if isinstance(a, ActionStep) else ActionStep(a) for a in self.actions)


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


KUBERNETES_MODES = ("auto", "on", "off")


@dataclass(frozen=True, slots=True)
class KubernetesConfig:
    """Where the Kubernetes API is and whether to use it.

    ``enabled``: ``auto`` uses the API when a configuration is found (in-cluster service
    account, ``kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``) and infers workloads from
    pod names otherwise; ``on`` makes a missing configuration an error; ``off`` never asks.
    ``node_name`` defaults to ``$NODE_NAME``, then the host name.
    """

    enabled: str = "auto"
    kubeconfig: Path | None = None
    node_name: str | None = None


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
    response: ResponseConfig = ResponseConfig()
    btf_path: Path = Path("/sys/kernel/btf/vmlinux")
    ringbuf_bytes: int = 2 << 20
    rules: RulesConfig = RulesConfig()
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
    kubernetes: KubernetesConfig = KubernetesConfig()


class _Collector:
    """Collects errors with the line of the YAML node they concern."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._found: list[tuple[int, str]] = []

    def add(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        where = f"{self.path}:{line}" if line else self.path
        self._found.append((line, f"{where}: {message}"))

    @property
    def errors(self) -> list[str]:
        return [message for _, message in sorted(self._found, key=lambda found: found[0])]


def _scalar(node: yaml.Node) -> Any:
    """The Python value of a scalar node, typed as YAML's safe loader would type it."""
    return yaml.safe_load(yaml.serialize(node))


def _mapping(node: yaml.Node, where: str, errors: _Collector) -> dict[str, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        errors.add(node, f"{where} must be a mapping")
        return None
    result: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        result[str(key_node.value)] = value_node
    return result


def _str_list(node: yaml.Node, where: str, errors: _Collector) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if not isinstance(node, yaml.SequenceNode):
        errors.add(node, f"{where} must be a list of strings")
        return []
    return [str(item.value) for item in node.value if isinstance(item, yaml.ScalarNode)]


def _unknown_keys(
    found: dict[str, yaml.Node], allowed: tuple[str, ...], where: str, errors: _Collector
) -> None:
    for key, node in found.items():
        if key not in allowed:
            errors.add(node, f"unknown key {where}{key!r} (known: {', '.join(allowed)})")


def _number(node: yaml.Node, where: str, errors: _Collector, *, allow_null: bool) -> float | None:
    value = _scalar(node)
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        errors.add(node, f"{where} must be a non-negative number, not {truncate(value, 40)}")
        return None
    return float(value)


def _action_name(node: yaml.Node, where: str, errors: _Collector) -> str | None:
    name = str(_scalar(node)) if isinstance(node, yaml.ScalarNode) else None
    if name is None or name not in KNOWN_ACTIONS:
        errors.add(
            node,
            f"{where}: unknown action {truncate(name if name is not None else '?', 40)!r} "
            f"(known: {', '.join(KNOWN_ACTIONS)})",
        )
        return None
    return name


def _action_step(node: yaml.Node, where: str, errors: _Collector) -> str | ActionStep | None:
    """``freeze`` or ``{action: kill-tree, fallback: freeze, timeout: 2}``."""
    if isinstance(node, yaml.ScalarNode):
        return _action_name(node, where, errors)
    fields = _mapping(node, where, errors)
    if fields is None:
        return None
    _unknown_keys(fields, ("action", "fallback", "timeout"), f"{where}.", errors)
    if "action" not in fields:
        errors.add(node, f"{where} needs an 'action'")
        return None
    action = _action_name(fields["action"], where, errors)
    fallback = _action_name(fields["fallback"], where, errors) if "fallback" in fields else None
    timeout = DEFAULT_ACTION_TIMEOUT
    if "timeout" in fields:
        value = _number(fields["timeout"], f"{where}.timeout", errors, allow_null=False)
        if value is not None and value <= 0:
            errors.add(fields["timeout"], f"{where}.timeout must be more than 0 seconds")
        elif value is not None:
            timeout = value
    if action is None:
        return None
    return ActionStep(action, fallback, timeout)


def _match_list(fields: dict[str, yaml.Node], key: str, errors: _Collector) -> list[str]:
    return _str_list(fields[key], "", errors) if key in fields else []


def _playbook_match(node: yaml.Node, where: str, errors: _Collector) -> PlaybookMatch:
    fields = _mapping(node, where, errors) or {}
    known = ("kind", "severity", "rule", "namespace", "tags", "workload", "labels")
    _unknown_keys(fields, known, f"{where}.", errors)
    severities: set[Severity] = set()
    for value in _match_list(fields, "severity", errors):
        try:
            severities.add(Severity(value))
        except ValueError:
            errors.add(
                fields["severity"],
                f"{where}.severity: {truncate(value, 40)!r} is not one of "
                f"{', '.join(s.value for s in Severity)}",
            )
    kinds = _match_list(fields, "kind", errors)
    for kind in kinds:
        if kind not in ALERT_KINDS:
            errors.add(
                fields["kind"], f"{where}.kind: {kind!r} is not one of {', '.join(ALERT_KINDS)}"
            )
    labels: list[tuple[str, str]] = []
    if "labels" in fields:
        label_fields = _mapping(fields["labels"], f"{where}.labels", errors) or {}
        labels = [(key, str(_scalar(value))) for key, value in label_fields.items()]
    return PlaybookMatch(
        kinds=frozenset(kinds),
        severities=frozenset(severities),
        rules=frozenset(_match_list(fields, "rule", errors)),
        namespaces=frozenset(_match_list(fields, "namespace", errors)),
        tags=frozenset(_match_list(fields, "tags", errors)),
        workloads=frozenset(_match_list(fields, "workload", errors)),
        labels=tuple(sorted(labels)),
    )


def _playbook(node: yaml.Node, index: int, errors: _Collector) -> Playbook | None:
    where = f"playbooks[{index}]"
    fields = _mapping(node, where, errors)
    if fields is None:
        return None
    _unknown_keys(fields, ("name", "match", "mode", "actions", "dry_run"), f"{where}.", errors)
    name = str(_scalar(fields["name"])) if "name" in fields else f"playbook-{index + 1}"
    mode = str(_scalar(fields["mode"])) if "mode" in fields else "alert"
    if mode not in PLAYBOOK_MODES:
        errors.add(fields["mode"], f"{where}.mode must be one of {', '.join(PLAYBOOK_MODES)}")
    actions: list[str | ActionStep] = []
    items: list[yaml.Node] = []
    if "actions" in fields:
        listed = fields["actions"]
        items = listed.value if isinstance(listed, yaml.SequenceNode) else [listed]
        for item in items:
            step = _action_step(item, where, errors)
            if step is not None:
                actions.append(step)
    if mode in ("auto", "approve") and not items:
        errors.add(node, f"{where}: mode {mode!r} needs at least one action")
    dry_run = None
    if "dry_run" in fields:
        dry_run = _bool(fields["dry_run"], f"{where}.dry_run", errors)
    match = PlaybookMatch()
    if "match" in fields:
        match = _playbook_match(fields["match"], f"{where}.match", errors)
    return Playbook(
        name=name,
        match=match,
        mode=mode,
        actions=tuple(actions),
        dry_run=dry_run,
    )


def _bool(node: yaml.Node, where: str, errors: _Collector) -> bool:
    value = _scalar(node)
    if not isinstance(value, bool):
        errors.add(node, f"{where} must be true or false, not {truncate(value, 40)}")
        return False
    return value


def _count(node: yaml.Node, where: str, errors: _Collector) -> int:
    value = _scalar(node)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.add(node, f"{where} must be a non-negative integer, not {truncate(value, 40)}")
        return 0
    return value


RESPONSE_KEYS = (
    "dry_run",
    "protected_namespaces",
    "agent_namespace",
    "rate_limit",
    "cooldown",
    "min_healthy_replicas",
    "approval_timeout",
    "forensics_before_destroy",
)


def _response(node: yaml.Node, errors: _Collector) -> ResponseConfig:
    """The ``response:`` section: guardrails shared by every playbook."""
    fields = _mapping(node, "response", errors)
    if fields is None:
        return ResponseConfig()
    _unknown_keys(fields, RESPONSE_KEYS, "response.", errors)
    values: dict[str, Any] = {}
    for key, value in fields.items():
        where = f"response.{key}"
        if key in ("dry_run", "forensics_before_destroy"):
            values[key] = _bool(value, where, errors)
        elif key == "protected_namespaces":
            values[key] = frozenset({"kube-system", *_str_list(value, where, errors)})
        elif key == "agent_namespace":
            values[key] = str(_scalar(value))
        elif key == "min_healthy_replicas":
            values[key] = _count(value, where, errors)
        elif key in ("cooldown", "approval_timeout"):
            values[key] = _number(value, where, errors, allow_null=False) or 0.0
        elif key == "rate_limit":
            limits = _mapping(value, where, errors) or {}
            _unknown_keys(limits, ("per_workload", "overall", "window"), f"{where}.", errors)
            for sub, sub_node in limits.items():
                if sub == "window":
                    window = _number(sub_node, f"{where}.window", errors, allow_null=False)
                    if window is not None and window <= 0:
                        errors.add(sub_node, f"{where}.window must be more than 0 seconds")
                    elif window is not None:
                        values["rate_window"] = window
                elif sub in ("per_workload", "overall"):
                    values[f"rate_{sub}"] = _count(sub_node, f"{where}.{sub}", errors)
    return ResponseConfig(**values)


def _kubernetes(fields: dict[str, yaml.Node], errors: _Collector) -> KubernetesConfig:
    _unknown_keys(fields, ("enabled", "kubeconfig", "node_name"), "kubernetes.", errors)
    enabled = "auto"
    if "enabled" in fields:
        value = _scalar(fields["enabled"])
        enabled = ("on" if value else "off") if isinstance(value, bool) else str(value)
        if enabled not in KUBERNETES_MODES:
            errors.add(
                fields["enabled"],
                f"kubernetes.enabled must be auto, true or false, not {truncate(value, 40)!r}",
            )
            enabled = "auto"
    kubeconfig = None
    if "kubeconfig" in fields:
        value = _scalar(fields["kubeconfig"])
        if not isinstance(value, str) or not value:
            errors.add(fields["kubeconfig"], "kubernetes.kubeconfig must be a file path")
        else:
            kubeconfig = Path(value).expanduser()
    node_name = None
    if "node_name" in fields:
        value = _scalar(fields["node_name"])
        if not isinstance(value, str) or not value or len(value) > 253:
            errors.add(fields["node_name"], "kubernetes.node_name must be a node's name")
        else:
            node_name = value
    return KubernetesConfig(enabled=str(enabled), kubeconfig=kubeconfig, node_name=node_name)


def _policy_settings(
    fields: dict[str, yaml.Node], where: str, errors: _Collector
) -> dict[str, object]:
    """The ProfilePolicy fields set in one mapping (the section or one override)."""
    settings: dict[str, object] = {}
    for key in POLICY_FIELDS:
        if key not in fields:
            continue
        node = fields[key]
        if key == "auto_lock":
            value = _scalar(node)
            if isinstance(value, bool):
                settings[key] = value
            else:
                errors.add(node, f"{where}auto_lock must be true or false")
        elif key in ("stability_events", "max_items"):
            value = _scalar(node)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                errors.add(node, f"{where}{key} must be a positive whole number")
            else:
                settings[key] = value
        else:
            number = _number(node, f"{where}{key}", errors, allow_null=key == "max_learning")
            if number is not None or key == "max_learning":
                settings[key] = number
    return settings


def _profiles_section(node: yaml.Node, errors: _Collector) -> dict[str, Any]:
    """``profiles:``: the default policy, ``learning_period`` (older name), ``overrides``."""
    fields = _mapping(node, "profiles", errors)
    if fields is None:
        return {}
    _unknown_keys(fields, ("learning_period", *POLICY_FIELDS, "overrides"), "profiles.", errors)
    values: dict[str, Any] = {}
    base = ProfilePolicies.from_learning_period(DEFAULT_LEARNING_PERIOD).default
    if "learning_period" in fields:
        period = _number(
            fields["learning_period"], "profiles.learning_period", errors, allow_null=True
        )
        values["learning_period"] = period
        base = ProfilePolicies.from_learning_period(period).default
    settings = _policy_settings(fields, "profiles.", errors)
    default = replace(base, **settings)  # type: ignore[arg-type]
    if default.max_learning is not None and default.min_learning > default.max_learning:
        errors.add(node, "profiles.min_learning must not exceed profiles.max_learning")
    overrides: list[PolicyOverride] = []
    if "overrides" in fields:
        listed = fields["overrides"]
        if not isinstance(listed, yaml.SequenceNode):
            errors.add(listed, "profiles.overrides must be a list")
        else:
            for index, item in enumerate(listed.value):
                where = f"profiles.overrides[{index}]."
                item_fields = _mapping(item, where.rstrip("."), errors)
                if item_fields is None:
                    continue
                _unknown_keys(item_fields, ("namespace", "workload", *POLICY_FIELDS), where, errors)
                namespace = item_fields.get("namespace")
                workload = item_fields.get("workload")
                if namespace is None and workload is None:
                    errors.add(item, f"{where.rstrip('.')} needs a namespace or a workload")
                overrides.append(
                    PolicyOverride(
                        settings=_policy_settings(item_fields, where, errors),
                        namespace=None if namespace is None else str(_scalar(namespace)),
                        workload=None if workload is None else str(_scalar(workload)),
                    )
                )
    values["profile_policies"] = ProfilePolicies(default, tuple(overrides))
    return values


def _store(node: yaml.Node, values: dict[str, Any], errors: _Collector) -> None:
    url = _scalar(node)
    if url is None:
        return
    if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://", "sqlite:")):
        errors.add(node, "store.url must be a postgresql://user:password@host/db URL")
        return
    values["store_url"] = url


def _incidents(node: yaml.Node, values: dict[str, Any], errors: _Collector) -> None:
    window = _number(node, "incidents.window", errors, allow_null=False)
    if window is not None and window <= 0:
        errors.add(node, "incidents.window must be a positive number of seconds")
    elif window is not None:
        values["incident_window"] = window


def parse_config(text: str, path: str = "<config>") -> AgentConfig:
    """Parse and validate YAML text; raise :class:`ConfigError` listing every problem."""
    errors = _Collector(path)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"not valid YAML: {truncate(problem, 120)}", path=path, line=line
        ) from None
    if root is None:
        return AgentConfig(source=path)
    top = _mapping(root, "the configuration", errors)
    if top is None:
        raise ConfigError("; ".join(errors.errors))
    known = (
        "api",
        "profiles",
        "outputs",
        "playbooks",
        "response",
        "sensor",
        "kubernetes",
        "rules",
        "store",
        "incidents",
    )
    _unknown_keys(top, known, "", errors)
    values: dict[str, Any] = {"source": path}

    def section(name: str, keys: tuple[str, ...], handle: Callable[[str, yaml.Node], None]) -> None:
        if name not in top:
            return
        fields = _mapping(top[name], name, errors)
        if fields is None:
            return
        _unknown_keys(fields, keys, f"{name}.", errors)
        for key, node in fields.items():
            if key in keys:
                handle(key, node)

    def api(key: str, node: yaml.Node) -> None:
        listen = str(_scalar(node))
        if not _valid_listen(listen):
            errors.add(node, f"api.listen must be HOST:PORT, not {truncate(listen, 60)!r}")
        values["listen"] = listen

    def sensor(key: str, node: yaml.Node) -> None:
        if key == "btf":
            values["btf_path"] = Path(str(_scalar(node)))
        elif key == "ringbuf_bytes":
            size = _scalar(node)
            if not isinstance(size, int) or size < 4096 or size & (size - 1):
                errors.add(node, "sensor.ringbuf_bytes must be a power of two ≥ 4096")
            else:
                values["ringbuf_bytes"] = size
        elif key == "fallback":
            fallback = _scalar(node)
            if fallback not in SENSOR_FALLBACKS:
                errors.add(
                    node, f"sensor.fallback must be one of {', '.join(map(str, SENSOR_FALLBACKS))}"
                )
            else:
                values["sensor_fallback"] = fallback
        elif key == "watch":
            values.update(_watch_section(node, errors))

    section("api", ("listen",), api)
    if "profiles" in top:
        values.update(_profiles_section(top["profiles"], errors))
    section("store", ("url",), lambda key, node: _store(node, values, errors))
    section("incidents", ("window",), lambda key, node: _incidents(node, values, errors))
    section("sensor", ("btf", "ringbuf_bytes", "fallback", "watch"), sensor)
    if "kubernetes" in top:
        kube_fields = _mapping(top["kubernetes"], "kubernetes", errors)
        if kube_fields is not None:
            values["kubernetes"] = _kubernetes(kube_fields, errors)
    if "outputs" in top:
        outputs = _str_list(top["outputs"], "outputs", errors)
        for spec in outputs:
            problem = output_spec_problem(spec)
            if problem:
                errors.add(top["outputs"], problem)
        values["outputs"] = tuple(outputs)
    if "playbooks" in top:
        node = top["playbooks"]
        if not isinstance(node, yaml.SequenceNode):
            errors.add(node, "playbooks must be a list")
        else:
            books = [_playbook(item, i, errors) for i, item in enumerate(node.value)]
            values["playbooks"] = tuple(b for b in books if b is not None)
    if "response" in top:
        values["response"] = _response(top["response"], errors)
    if "rules" in top:
        values["rules"] = _rules_section(top["rules"], errors)
    if errors.errors:
        raise ConfigError("\n".join(errors.errors))
    return AgentConfig(**values)


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


def _rules_section(node: yaml.Node, errors: _Collector) -> RulesConfig:
    fields = _mapping(node, "rules", errors)
    if fields is None:
        return RulesConfig()
    _unknown_keys(fields, ("builtin", "files", "dedup_window", "egress"), "rules.", errors)
    values: dict[str, Any] = {}
    if "builtin" in fields:
        builtin = _scalar(fields["builtin"])
        if not isinstance(builtin, bool):
            errors.add(fields["builtin"], "rules.builtin must be true or false")
        else:
            values["builtin"] = builtin
    if "files" in fields:
        values["files"] = tuple(Path(f) for f in _str_list(fields["files"], "rules.files", errors))
    if "dedup_window" in fields:
        window = _number(fields["dedup_window"], "rules.dedup_window", errors, allow_null=False)
        if window is not None:
            values["dedup_window"] = window
    if "egress" in fields:
        values["egress"] = _egress(fields["egress"], errors)
    return RulesConfig(**values)


def _egress(node: yaml.Node, errors: _Collector) -> tuple[EgressRule, ...]:
    from vigil.detect.rules.egress import Destination

    if not isinstance(node, yaml.SequenceNode):
        errors.add(node, "rules.egress must be a list of {workload|namespace, allow}")
        return ()
    policies = []
    for index, item in enumerate(node.value):
        where = f"rules.egress[{index}]"
        fields = _mapping(item, where, errors)
        if fields is None:
            continue
        _unknown_keys(fields, ("workload", "namespace", "allow"), f"{where}.", errors)
        selectors = [str(_scalar(fields[k])) for k in ("workload", "namespace") if k in fields]
        if len(selectors) != 1:
            errors.add(item, f"{where} needs exactly one of workload or namespace")
            continue
        allow = _str_list(fields["allow"], f"{where}.allow", errors) if "allow" in fields else []
        for destination in allow:
            try:
                Destination.parse(destination)
            except ValueError:
                errors.add(
                    fields["allow"],
                    f"{where}.allow: {truncate(destination, 60)!r} is not CIDR, IP or IP:PORT",
                )
        policies.append(EgressRule(selector=selectors[0], allow=tuple(allow)))
    return tuple(policies)


SENSOR_FALLBACKS = (None, "proc-connector")


def _watch_section(node: yaml.Node, errors: _Collector) -> dict[str, tuple[str, ...]]:
    """``sensor.watch: {read: [...], write: [...]}``: the path prefixes the kernel reports."""
    from vigil.sensor.watch import WatchedPaths

    fields = _mapping(node, "sensor.watch", errors) or {}
    _unknown_keys(fields, ("read", "write"), "sensor.watch.", errors)
    found: dict[str, tuple[str, ...]] = {}
    for key in ("read", "write"):
        if key in fields:
            found[f"watch_{key}"] = tuple(_str_list(fields[key], f"sensor.watch.{key}", errors))
    problem = WatchedPaths.check(found.get("watch_read", ()), found.get("watch_write", ()))
    if problem:
        errors.add(node, f"sensor.watch: {problem}")
    return found


def load_config(path: Path) -> AgentConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {truncate(exc, 120)}", path=str(path)) from None
    return parse_config(text, str(path))


def output_spec_problem(spec: str) -> str | None:
    """Why an ``--output`` spec is invalid, or ``None`` when it is fine."""
    if spec == "stdout":
        return None
    scheme, _, target = spec.partition(":")
    if scheme == "jsonl":
        return None if target else "output 'jsonl:' needs a path, e.g. jsonl:/var/log/vigil.jsonl"
    return f"unknown output {truncate(spec, 60)!r} (known: stdout, jsonl:PATH)"


def _valid_listen(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)
