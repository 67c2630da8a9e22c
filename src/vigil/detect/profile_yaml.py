"""Profiles as reviewable YAML: export, import (validated, with file:line), and diff.

A profile exported from one cluster can be reviewed in a pull request, edited, and imported
into another agent (GitOps). Every item is a plain string, one per line, sorted, so that a
textual diff of two exports reads like the semantic diff `vigil profiles diff` prints.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import yaml

from vigil.detect.generalize import destination_parts
from vigil.detect.items import FIELD_OF_KIND, KIND_OF_FIELD, PROCESS_ARROW, ItemKind
from vigil.detect.profiles import Profile, ProfileState
from vigil.errors import ConfigError, truncate
from vigil.models import Workload, utcnow
from vigil.yamlnodes import Problems, compose, fields_of, report_unknown_keys, scalar

API_VERSION = "vigil/v1"
DOCUMENT_KIND = "Profile"
#: a profile file larger than this is refused before it is parsed
MAX_DOCUMENT_BYTES = 4 << 20
_TOP_KEYS = (
    "apiVersion",
    "kind",
    "workload",
    "version",
    "image",
    "state",
    "partial",
    *FIELD_OF_KIND.values(),
    "resolved",
)
_WORKLOAD_KEYS = ("namespace", "kind", "name", "container")


def export_document(data: dict[str, Any]) -> dict[str, Any]:
    """The reviewable part of a profile's JSON (as the API gives it), in export order."""
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": DOCUMENT_KIND,
        "workload": {key: data["workload"][key] for key in _WORKLOAD_KEYS},
        "version": data["version"],
        "image": data.get("image", ""),
        "state": data["state"],
        "partial": data.get("partial", False),
    }
    for name in FIELD_OF_KIND.values():
        document[name] = sorted(data.get(name, []))
    document["resolved"] = {dest: sorted(names) for dest, names in data.get("resolved", {}).items()}
    return document


def dump_profile(data: dict[str, Any]) -> str:
    """A profile's JSON as commented YAML, ready to review and to import."""
    header = (
        f"# vigil profile of {data['key']}, version {data['version']} ({data['state']}).\n"
        "# Review or edit, then load it with `vigil profiles import FILE`.\n"
    )
    body = yaml.safe_dump(
        export_document(data), sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return header + body


# -- import ----------------------------------------------------------------------------------
def _path_problem(item: str) -> str | None:
    return None if item.startswith("/") else "must start with an absolute path"


def _process_problem(item: str) -> str | None:
    parent, arrow, child = item.partition(PROCESS_ARROW)
    ok = arrow and parent.startswith("/") and child.startswith("/")
    return None if ok else f"must read 'PARENT{PROCESS_ARROW}CHILD' with absolute paths"


def _user_problem(item: str) -> str | None:
    return None if item.isdigit() else "must be a numeric uid"


def _listen_problem(item: str) -> str | None:
    protocol, slash, port = item.partition("/")
    ok = slash and protocol and port.isdigit() and int(port) < 65536
    return None if ok else "must read 'PROTOCOL/PORT', e.g. tcp/8080"


def _dns_problem(item: str) -> str | None:
    return None if " " not in item else "must be a DNS name without spaces"


def _destination_problem(item: str) -> str | None:
    parts = destination_parts(item)
    if parts is None or not parts[0] or not parts[2].isdigit() or int(parts[2]) > 65535:
        return "must read 'PROTOCOL/ADDRESS:PORT', e.g. tcp/10.0.0.7:443 or tcp/10.0.0.0/24:443"
    try:
        ipaddress.ip_network(parts[1], strict=False)
    except ValueError:
        return f"{truncate(parts[1], 60)!r} is not an address or a CIDR"
    return None


_PROBLEM = {
    ItemKind.EXECUTABLE: _path_problem,
    ItemKind.FILE_WRITE: _path_problem,
    ItemKind.ARGUMENTS: _path_problem,
    ItemKind.PROCESS: _process_problem,
    ItemKind.USER: _user_problem,
    ItemKind.LISTEN: _listen_problem,
    ItemKind.DNS: _dns_problem,
    ItemKind.DESTINATION: _destination_problem,
}


def _item_problem(kind: ItemKind, item: str) -> str | None:
    """Why ``item`` cannot be a ``kind`` item, or None."""
    if not item or len(item) > 4096:
        return "must be a non-empty string of at most 4096 characters"
    return _PROBLEM[kind](item)


def _string(node: yaml.Node, where: str, errors: Problems) -> str | None:
    value = scalar(node, errors.path) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, str | int) or isinstance(value, bool):
        errors.add(node, f"{where} must be a string")
        return None
    return str(value)


def _is_null(node: yaml.Node, errors: Problems) -> bool:
    return isinstance(node, yaml.ScalarNode) and scalar(node, errors.path) is None


def _items(node: yaml.Node, kind: ItemKind, errors: Problems) -> set[str]:
    where = FIELD_OF_KIND[kind]
    if _is_null(node, errors):
        return set()
    if not isinstance(node, yaml.SequenceNode):
        errors.add(node, f"{where} must be a list of strings")
        return set()
    found = set()
    for item_node in node.value:
        item = _string(item_node, f"{where} item", errors)
        if item is None:
            continue
        problem = _item_problem(kind, item)
        if problem:
            errors.add(item_node, f"{where}: {truncate(item, 80)!r} {problem}")
        else:
            found.add(item)
    return found


@dataclass(frozen=True, slots=True)
class _Parsed:
    workload: Workload | None
    state: ProfileState
    image: str


def _header(fields: dict[str, yaml.Node], root: yaml.Node, errors: Problems) -> _Parsed:
    for key, expected in (("apiVersion", API_VERSION), ("kind", DOCUMENT_KIND)):
        if key not in fields:
            errors.add(root, f"missing {key} (expected {expected!r})")
        elif scalar(fields[key], errors.path) != expected:
            errors.add(fields[key], f"{key} must be {expected!r}")
    workload = None
    if "workload" not in fields:
        errors.add(root, "missing workload (namespace, kind, name, container)")
    else:
        workload_fields = fields_of(fields["workload"], "workload", errors)
        if workload_fields is not None:
            report_unknown_keys(fields["workload"], _WORKLOAD_KEYS, "workload.", errors)
            values = {}
            for key in _WORKLOAD_KEYS:
                if key not in workload_fields:
                    errors.add(fields["workload"], f"workload.{key} is missing")
                    continue
                value = _string(workload_fields[key], f"workload.{key}", errors)
                if value is not None:
                    values[key] = value
            if len(values) == len(_WORKLOAD_KEYS) and values["kind"] and values["name"]:
                workload = Workload(
                    values["namespace"], values["kind"], values["name"], values["container"]
                )
            elif len(values) == len(_WORKLOAD_KEYS):
                errors.add(fields["workload"], "workload.kind and workload.name must not be empty")
    state = ProfileState.LOCKED
    if "state" in fields:
        try:
            state = ProfileState(scalar(fields["state"], errors.path))
        except ValueError:
            errors.add(fields["state"], "state must be 'learning' or 'locked'")
    image = ""
    if "image" in fields and not _is_null(fields["image"], errors):
        image = _string(fields["image"], "image", errors) or ""
    return _Parsed(workload, state, image)


def _resolved(node: yaml.Node, errors: Problems) -> dict[str, set[str]]:
    if _is_null(node, errors):
        return {}
    fields = fields_of(node, "resolved", errors)
    resolved: dict[str, set[str]] = {}
    for destination, names in (fields or {}).items():
        if isinstance(names, yaml.SequenceNode):
            resolved[destination] = {str(n.value) for n in names.value}
        else:
            errors.add(names, f"resolved.{truncate(destination, 60)} must be a list of names")
    return resolved


def load_profile(text: str, path: str = "<profile>") -> Profile:
    """Parse and validate a profile document; :class:`ConfigError` lists every problem."""
    if len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"larger than {MAX_DOCUMENT_BYTES} bytes", path=path)
    errors = Problems(path)
    root = compose(text, path)
    if root is None:
        raise ConfigError("empty: expected a profile document", path=path)
    fields = fields_of(root, "the profile", errors)
    if fields is None:
        raise ConfigError("\n".join(errors.messages))
    report_unknown_keys(root, _TOP_KEYS, "", errors)
    header = _header(fields, root, errors)
    items = {
        kind: _items(fields[name], kind, errors) if name in fields else set()
        for name, kind in KIND_OF_FIELD.items()
    }
    resolved = _resolved(fields["resolved"], errors) if "resolved" in fields else {}
    if errors.found or header.workload is None:
        raise ConfigError("\n".join(errors.messages) or f"{path}: no workload")
    now = utcnow()
    profile = Profile(
        workload=header.workload,
        state=header.state,
        created=now,
        updated=now,
        learning_since=now,
        image=header.image,
        resolved=resolved,
    )
    for kind, found in items.items():
        profile.items(kind).update(found)
    return profile


# -- diff ------------------------------------------------------------------------------------
def diff_profiles(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new`` (profile JSON): per field, items added and removed."""
    changes: dict[str, dict[str, list[str]]] = {}
    for name in FIELD_OF_KIND.values():
        before, after = set(old.get(name, [])), set(new.get(name, []))
        if before != after:
            changes[name] = {"added": sorted(after - before), "removed": sorted(before - after)}
    return {
        "old": f"{old['key']}@{old['version']}",
        "new": f"{new['key']}@{new['version']}",
        "attributes": {
            key: {"old": old.get(key), "new": new.get(key)}
            for key in ("image", "state", "partial")
            if old.get(key) != new.get(key)
        },
        "changes": changes,
    }
