"""Agent configuration: YAML in, an immutable, validated :class:`AgentConfig` out.

Every problem is collected with its file and line (pySigma style) and reported together, so a
user fixes a config in one pass rather than one error per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vigil.errors import ConfigError, truncate
from vigil.models import Severity

DEFAULT_LISTEN = "127.0.0.1:7070"
DEFAULT_DATA_DIR = Path("/var/lib/vigil")
DEFAULT_LEARNING_PERIOD = 600.0
PLAYBOOK_MODES = ("alert", "auto")
KNOWN_ACTIONS = ("freeze",)
ALERT_KINDS = ("deviation", "rule")


@dataclass(frozen=True, slots=True)
class PlaybookMatch:
    kinds: frozenset[str] = frozenset()
    severities: frozenset[Severity] = frozenset()
    rules: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Playbook:
    name: str
    match: PlaybookMatch
    mode: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    listen: str = DEFAULT_LISTEN
    #: seconds of learning after a profile's first event; ``None`` = only `vigil profiles lock`
    learning_period: float | None = DEFAULT_LEARNING_PERIOD
    outputs: tuple[str, ...] = ()
    playbooks: tuple[Playbook, ...] = ()
    btf_path: Path = Path("/sys/kernel/btf/vmlinux")
    ringbuf_bytes: int = 8 << 20
    #: "proc-connector": when eBPF cannot load, watch exec/exit over netlink instead
    sensor_fallback: str | None = None
    #: path prefixes the kernel reports opens for read of / writes below (None: the defaults)
    watch_read: tuple[str, ...] | None = None
    watch_write: tuple[str, ...] | None = None
    source: str | None = field(default=None, compare=False)


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


def _playbook(node: yaml.Node, index: int, errors: _Collector) -> Playbook | None:
    where = f"playbooks[{index}]"
    fields = _mapping(node, where, errors)
    if fields is None:
        return None
    _unknown_keys(fields, ("name", "match", "mode", "actions"), f"{where}.", errors)
    name = str(_scalar(fields["name"])) if "name" in fields else f"playbook-{index + 1}"
    mode = str(_scalar(fields["mode"])) if "mode" in fields else "alert"
    if mode not in PLAYBOOK_MODES:
        errors.add(fields["mode"], f"{where}.mode must be one of {', '.join(PLAYBOOK_MODES)}")
    actions = (
        _str_list(fields["actions"], f"{where}.actions", errors) if "actions" in fields else []
    )
    for action in actions:
        if action not in KNOWN_ACTIONS:
            errors.add(
                fields["actions"],
                f"{where}: unknown action {truncate(action, 40)!r} "
                f"(known: {', '.join(KNOWN_ACTIONS)})",
            )
    if mode == "auto" and not actions:
        errors.add(node, f"{where}: mode 'auto' needs at least one action")
    match = PlaybookMatch()
    if "match" in fields:
        match_fields = _mapping(fields["match"], f"{where}.match", errors) or {}
        _unknown_keys(
            match_fields, ("kind", "severity", "rule", "namespace"), f"{where}.match.", errors
        )
        severities: set[Severity] = set()
        for value in _str_list(match_fields.get("severity", yaml.SequenceNode("", [])), "", errors):
            try:
                severities.add(Severity(value))
            except ValueError:
                errors.add(
                    match_fields["severity"],
                    f"{where}.match.severity: {truncate(value, 40)!r} is not one of "
                    f"{', '.join(s.value for s in Severity)}",
                )
        kinds = _str_list(match_fields.get("kind", yaml.SequenceNode("", [])), "", errors)
        for kind in kinds:
            if kind not in ALERT_KINDS:
                errors.add(
                    match_fields["kind"],
                    f"{where}.match.kind: {kind!r} is not one of {', '.join(ALERT_KINDS)}",
                )
        match = PlaybookMatch(
            kinds=frozenset(kinds),
            severities=frozenset(severities),
            rules=frozenset(
                _str_list(match_fields.get("rule", yaml.SequenceNode("", [])), "", errors)
            ),
            namespaces=frozenset(
                _str_list(match_fields.get("namespace", yaml.SequenceNode("", [])), "", errors)
            ),
        )
    return Playbook(name=name, match=match, mode=mode, actions=tuple(actions))


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
    known = ("api", "profiles", "outputs", "playbooks", "sensor")
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

    def profiles(key: str, node: yaml.Node) -> None:
        values["learning_period"] = _number(
            node, "profiles.learning_period", errors, allow_null=True
        )

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
    section("profiles", ("learning_period",), profiles)
    section("sensor", ("btf", "ringbuf_bytes", "fallback", "watch"), sensor)
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
    if errors.errors:
        raise ConfigError("\n".join(errors.errors))
    return AgentConfig(**values)


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
