"""``proc.*``, ``user.*``, ``group.*``: the process, its ancestry and its identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.detect.rules.fields.base import (
    Arg,
    FieldDef,
    Getter,
    GetterFactory,
    Kind,
    basename,
    plain,
    present,
)
from vigil.models import Event


def _args(event: Event) -> str:
    return event.process.cmdline.partition(" ")[2]


def _cmdline(event: Event) -> str:
    # Falco's proc.cmdline is "name args": the program's name, not argv[0]'s path.
    rest = event.process.cmdline.partition(" ")[2]
    name = basename(event.process.exe)
    return f"{name} {rest}" if rest else name


def _lineage(event: Event) -> tuple[str, ...]:
    """Executables of self, parent, grandparent, … (nearest first).

    ``ProcessInfo.ancestors`` starts with the parent (the sensor's process tree); an event that
    only knows ``parent_exe`` still has a parent."""
    p = event.process
    if p.ancestors:
        return (p.exe, *p.ancestors)
    return (p.exe, p.parent_exe) if p.parent_exe else (p.exe,)


def _ancestor(transform: Callable[[str], str]) -> GetterFactory:
    def make(arg: str | None) -> Getter:
        if arg is None:
            # every ancestor (not the process itself), as Falco's proc.aname without index
            def every(event: Event) -> Any:
                found = tuple(transform(exe) for exe in _lineage(event)[1:] if exe)
                return found or None

            return every
        depth = int(arg)

        def nth(event: Event) -> Any:
            lineage = _lineage(event)
            if depth < len(lineage) and lineage[depth]:
                return transform(lineage[depth])
            return None

        return nth

    return make


def _identity(text: str) -> str:
    return text


def _user_name(event: Event) -> str | None:
    # Names of other users live in the container's own /etc/passwd, which is not read here.
    return "root" if event.process.uid == 0 else None


def _group_name(event: Event) -> str | None:
    return "root" if event.process.gid == 0 else None


def _f(name: str, kind: Kind, getter: Getter, doc: str = "") -> FieldDef:
    return FieldDef(name, kind, plain(getter), doc)


S, I, B = Kind.STR, Kind.INT, Kind.BOOL  # noqa: E741 - short for the table

PROC_FIELDS = (
    _f("proc.name", S, lambda e: basename(e.process.exe), "program name"),
    _f("proc.exe", S, lambda e: e.process.cmdline.partition(" ")[0] or e.process.exe),
    _f("proc.exepath", S, lambda e: e.process.exe, "full path of the executable"),
    _f("proc.cmdline", S, _cmdline, "name and arguments"),
    _f("proc.args", S, _args, "arguments"),
    _f("proc.pid", I, lambda e: e.process.pid),
    _f("proc.ppid", I, lambda e: e.process.ppid),
    _f("proc.cwd", S, lambda e: present(e.process.cwd)),
    _f("proc.pname", S, lambda e: present(basename(e.process.parent_exe)), "parent's name"),
    _f("proc.pexe", S, lambda e: present(e.process.parent_exe)),
    _f("proc.pexepath", S, lambda e: present(e.process.parent_exe)),
    FieldDef(
        "proc.aname",
        S,
        _ancestor(basename),
        "ancestor's name: [0] self, [1] parent, …",
        Arg.OPTIONAL,
        multi=True,
    ),
    FieldDef("proc.aexe", S, _ancestor(_identity), "ancestor's executable", Arg.OPTIONAL, True),
    FieldDef("proc.aexepath", S, _ancestor(_identity), "ancestor's path", Arg.OPTIONAL, True),
    _f("proc.is_exe_upper_layer", B, lambda e: e.process.exe_on_writable_layer),
    _f("proc.is_exe_from_memfd", B, lambda e: e.process.exe_from_memfd),
    _f("proc.is_exe_from_dev_shm", B, lambda e: e.process.exe_from_dev_shm, "vigil"),
    _f(
        "proc.is_exe_new",
        B,
        lambda e: e.process.exe_changed_after_start,
        "vigil: executable created or changed after the container started (drift)",
    ),
    _f("user.uid", I, lambda e: e.process.uid),
    _f("user.euid", I, lambda e: e.process.euid, "vigil: effective uid"),
    _f("user.name", S, _user_name, "root for uid 0, else absent"),
    _f("group.gid", I, lambda e: e.process.gid),
    _f("group.name", S, _group_name, "root for gid 0, else absent"),
)
