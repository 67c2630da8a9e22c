"""OCI runtime state: state root → ``state.json`` (runc) / ``status`` (crun) → ``config.json``.

Low-level runtimes keep one directory per live container under their ``--root``; the directory
disappears when the container is deleted, which is how the resolver learns a container is gone.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigil.errors import truncate
from vigil.identity.cgroups import CONTAINER_ID_RE
from vigil.models import parse_rfc3339

log = logging.getLogger(__name__)

#: state and config files are small; anything bigger is not what we think it is
MAX_STATE_BYTES = 1 << 20
MAX_CONFIG_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class StateRoot:
    """A directory where a runtime keeps per-container state.

    ``namespaced`` roots hold one level of namespace directories first
    (``/run/containerd/runc/<namespace>/<id>``).
    """

    path: str
    runtime: str
    namespaced: bool = False

    @classmethod
    def from_path(cls, path: str) -> StateRoot:
        """Guess the runtime from a well-known path (for configuration given as plain paths)."""
        if "/containerd/" in path + "/":
            return cls(path, "containerd", namespaced=path.rstrip("/").endswith("/runc"))
        if "/docker/" in path + "/":
            return cls(path, "docker")
        if "crun" in path:
            return cls(path, "crun")
        return cls(path, "runc")


DEFAULT_STATE_ROOTS: tuple[StateRoot, ...] = (
    StateRoot("/run/runc", "runc"),  # plain runc, CRI-O and Podman with runc
    StateRoot("/run/crun", "crun"),  # crun, CRI-O and Podman with crun
    StateRoot("/run/containerd/runc", "containerd", namespaced=True),  # k8s.io, moby, default
    StateRoot("/run/docker/runtime-runc/moby", "docker"),
)

# containerd's namespace tells who asked for the container: Docker uses "moby"
_NAMESPACE_RUNTIME = {"moby": "docker"}


class StateError(Exception):
    """A state or config file exists but cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class RuntimeState:
    """What the runtime's state directory says about one container."""

    id: str
    #: the runtime's ``--root`` (the directory that holds the container's state directory)
    root: str
    runtime: str
    state_dir: str
    bundle: str = ""
    pid: int | None = None
    created: datetime | None = None
    cgroup_paths: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: runc copies annotations into its labels; used when the bundle cannot be read
    label_annotations: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class StateDir:
    """A container's state directory, found but not read yet."""

    id: str
    root: str
    runtime: str
    path: str

    def exists(self) -> bool:
        return os.path.isdir(self.path)


class StateRoots:
    """Finds containers' state directories across all configured runtime roots."""

    def __init__(self, roots: Sequence[StateRoot | str]) -> None:
        self.roots = tuple(r if isinstance(r, StateRoot) else StateRoot.from_path(r) for r in roots)

    def find(self, container_id: str) -> StateDir | None:
        if not CONTAINER_ID_RE.match(container_id):
            return None  # never build paths from names that could escape the root
        for root, runtime in self._runtime_dirs():
            path = os.path.join(root, container_id)
            if _has_state(path):
                return StateDir(container_id, root, runtime, path)
        return None

    def all(self) -> Iterator[StateDir]:
        for root, runtime in self._runtime_dirs():
            for name in _listdir(root):
                path = os.path.join(root, name)
                if CONTAINER_ID_RE.match(name) and _has_state(path):
                    yield StateDir(name, root, runtime, path)

    def present(self) -> bool:
        """Some configured root exists: a runtime that could write a container's state is here."""
        return any(os.path.isdir(root.path) for root in self.roots)

    def _runtime_dirs(self) -> Iterator[tuple[str, str]]:
        """(``--root`` directory, runtime name) pairs, namespaces expanded."""
        for root in self.roots:
            if not root.namespaced:
                yield root.path, root.runtime
                continue
            for namespace in sorted(_listdir(root.path)):
                path = os.path.join(root.path, namespace)
                if os.path.isdir(path):
                    yield path, _NAMESPACE_RUNTIME.get(namespace, root.runtime)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _has_state(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "state.json")) or os.path.isfile(
        os.path.join(path, "status")
    )


def state_mtime_ns(path: str) -> int:
    """mtime of a state directory's state file (0 when gone): runtimes rewrite it on changes."""
    for name in ("state.json", "status"):
        try:
            return os.stat(os.path.join(path, name)).st_mtime_ns
        except OSError:
            continue
    return 0


def read_state(found: StateDir) -> RuntimeState:
    """Read runc's ``state.json`` or crun's ``status``; raises StateError when unusable."""
    runc_file = os.path.join(found.path, "state.json")
    if os.path.isfile(runc_file):
        return _from_runc_state(found, read_json(runc_file, MAX_STATE_BYTES))
    return _from_crun_status(found, read_json(os.path.join(found.path, "status"), MAX_STATE_BYTES))


def _from_runc_state(found: StateDir, data: dict[str, Any]) -> RuntimeState:
    config = data.get("config")
    labels = _labels(config.get("labels") if isinstance(config, dict) else None)
    return _state(
        found,
        data,
        bundle=labels.pop("bundle", ""),
        pid=data.get("init_process_pid"),
        cgroup_paths=_str_map(data.get("cgroup_paths")),
        label_annotations=labels,
    )


def _from_crun_status(found: StateDir, data: dict[str, Any]) -> RuntimeState:
    cgroup = data.get("cgroup-path")
    return _state(
        found,
        data,
        bundle=str(data.get("bundle") or ""),
        pid=data.get("pid"),
        # crun records the path relative to the cgroup mount; the resolver makes it absolute
        cgroup_paths={"": cgroup} if isinstance(cgroup, str) and cgroup else {},
    )


def _state(
    found: StateDir,
    data: dict[str, Any],
    *,
    bundle: str,
    pid: object,
    cgroup_paths: Mapping[str, str],
    label_annotations: Mapping[str, str] | None = None,
) -> RuntimeState:
    """What every runtime's state file says, once each reader found its own names for it."""
    return RuntimeState(
        id=found.id,
        root=found.root,
        runtime=found.runtime,
        state_dir=found.path,
        bundle=bundle,
        pid=_int_or_none(pid),
        created=parse_timestamp(data.get("created")),
        cgroup_paths=cgroup_paths,
        label_annotations=label_annotations or {},
    )


def read_annotations(state: RuntimeState) -> dict[str, str]:
    """The OCI annotations of the bundle's ``config.json`` (crun also keeps a copy in its state
    directory); raises StateError when no config can be read."""
    candidates = [os.path.join(state.bundle, "config.json")] if state.bundle else []
    candidates.append(os.path.join(state.state_dir, "config.json"))
    errors: list[str] = []
    for path in candidates:
        if not os.path.isfile(path):
            continue
        try:
            return _str_map(read_json(path, MAX_CONFIG_BYTES).get("annotations"))
        except StateError as exc:
            errors.append(str(exc))
    raise StateError("; ".join(errors) or f"no config.json for container {truncate(state.id)}")


def read_json(path: str, limit: int) -> dict[str, Any]:
    """A JSON object from a file of at most ``limit`` bytes; StateError names what is wrong."""
    data = read_json_value(path, limit)
    if not isinstance(data, dict):
        raise StateError(f"{path}: expected a JSON object")
    return data


def read_json_list(path: str, limit: int) -> list[Any]:
    data = read_json_value(path, limit)
    if not isinstance(data, list):
        raise StateError(f"{path}: expected a JSON list")
    return data


def read_json_value(path: str, limit: int) -> Any:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise StateError(f"{path}: {exc.strerror}") from exc
    if len(raw) > limit:
        raise StateError(f"{path}: larger than {limit} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else path
        raise StateError(f"{where}: not valid JSON ({truncate(exc, 80)})") from exc
    return data


def _labels(labels: object) -> dict[str, str]:
    result: dict[str, str] = {}
    if isinstance(labels, list):
        for label in labels:
            if isinstance(label, str) and "=" in label:
                key, _, value = label.partition("=")
                result[key] = value
    return result


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_timestamp(value: object) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Go's format) → aware datetime; None if malformed."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        # Python takes at most microseconds
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        moment = parse_rfc3339(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
