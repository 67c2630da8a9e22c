"""The difference between two versions of a profile, field by field.

Works on the profile's JSON, whatever fields it has: list fields give items added and removed,
other fields their old and new value. Timestamps and bookkeeping are left out.
"""

from __future__ import annotations

from typing import Any

IGNORED = frozenset({"updated", "created", "locked_at", "reported", "size", "key", "workload"})


def diff_profiles(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in sorted((set(old) | set(new)) - IGNORED):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if isinstance(before, list | type(None)) and isinstance(after, list | type(None)):
            was = {_hashable(v) for v in before or []}
            now = {_hashable(v) for v in after or []}
            changes[name] = {"added": sorted(now - was), "removed": sorted(was - now)}
        else:
            changes[name] = {"from": before, "to": after}
    return changes


def _hashable(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
