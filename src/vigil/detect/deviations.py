"""Deviations: each new item after lock, saying what was new and what the profile knew that
came closest ("exec /usr/bin/curl by /bin/sh; known children of /bin/sh: /usr/bin/wget, /bin/ls").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vigil.detect.items import PROCESS_ARROW, ItemKind, closest
from vigil.detect.profile import Profile
from vigil.models import Event, EventType, Severity

#: deviations remembered per profile (each is reported once); beyond, new ones are counted only
MAX_REPORTED = 4096

_SEVERITY = {
    ItemKind.EXECUTABLE: Severity.HIGH,
    ItemKind.LISTEN: Severity.HIGH,
    ItemKind.USER: Severity.HIGH,
    ItemKind.PROCESS: Severity.MEDIUM,
    ItemKind.DESTINATION: Severity.MEDIUM,
    ItemKind.DNS: Severity.MEDIUM,
    ItemKind.FILE_WRITE: Severity.MEDIUM,
    ItemKind.ARGUMENTS: Severity.LOW,
}
# Tactics: TA0002 Execution, TA0011 Command and Control, TA0003 Persistence,
# TA0004 Privilege Escalation.
_MITRE = {
    ItemKind.EXECUTABLE: ["TA0002"],
    ItemKind.PROCESS: ["TA0002"],
    ItemKind.ARGUMENTS: ["TA0002"],
    ItemKind.DESTINATION: ["TA0011"],
    ItemKind.DNS: ["TA0011"],
    ItemKind.LISTEN: ["TA0011"],
    ItemKind.FILE_WRITE: ["TA0003"],
    ItemKind.USER: ["TA0004"],
}


@dataclass(frozen=True, slots=True)
class Deviation:
    """Behaviour a locked profile does not contain, with what it knew that came closest."""

    profile: Profile
    item_kind: ItemKind
    item: str
    event: Event
    #: what happened and what the profile knew, written when it was found
    summary: str = ""
    closest: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "deviation"

    @property
    def rule(self) -> str:
        return f"profile.new_{self.item_kind.value}"

    @property
    def severity(self) -> Severity:
        return _SEVERITY[self.item_kind]

    @property
    def mitre(self) -> list[str]:
        return list(_MITRE[self.item_kind])

    @property
    def message(self) -> str:
        return self.summary


def _listed(items: Iterable[str], limit: int = 5) -> str:
    shown = list(items)
    if not shown:
        return "nothing"
    text = ", ".join(shown[:limit])
    return text + (f" (+{len(shown) - limit} more)" if len(shown) > limit else "")


@dataclass(frozen=True, slots=True)
class _Context:
    profile: Profile
    item: str
    event: Event
    looked_up: str | None

    @property
    def exe(self) -> str:
        return self.event.process.exe

    @property
    def parent(self) -> str:
        return self.event.process.parent_exe

    @property
    def by(self) -> str:
        return f" by {self.exe}" if self.exe else ""

    def closest(self, kind: ItemKind) -> list[str]:
        return closest(kind, self.item, self.profile.items(kind))


def _executable(c: _Context) -> tuple[str, list[str]]:
    parent = c.parent
    children = sorted(
        p.split(PROCESS_ARROW, 1)[1]
        for p in c.profile.processes
        if parent and p.startswith(parent + PROCESS_ARROW)
    )
    if children:
        return f"exec {c.item} by {parent}; known children of {parent}", children
    of = f" by {parent}" if parent else ""
    return f"exec {c.item}{of}; closest known executables", c.closest(ItemKind.EXECUTABLE)


def _process(c: _Context) -> tuple[str, list[str]]:
    parents = sorted(
        p.split(PROCESS_ARROW, 1)[0]
        for p in c.profile.processes
        if p.endswith(PROCESS_ARROW + c.exe)
    )
    return f"exec {c.exe} by {c.parent}; {c.exe} is known as a child of", parents


def _arguments(c: _Context) -> tuple[str, list[str]]:
    exe = c.exe
    known = sorted(a for a in c.profile.arguments if a == exe or a.startswith(exe + " "))
    patterns = [repr(a[len(exe) :].strip()) for a in known]
    args = c.item[len(exe) :].strip()
    return f"exec {exe} with {args!r}; known argument patterns of {exe}", patterns


def _user(c: _Context) -> tuple[str, list[str]]:
    uids = sorted(c.profile.users, key=lambda uid: (len(uid), uid))
    return f"{c.exe or 'a process'} ran as uid {c.item}; known uids", uids


def _destination(c: _Context) -> tuple[str, list[str]]:
    name = f" (looked up as {c.looked_up})" if c.looked_up else ""
    near = c.closest(ItemKind.DESTINATION)
    return f"connect {c.item}{c.by}{name}; closest known destinations", near


def _dns(c: _Context) -> tuple[str, list[str]]:
    dns = c.event.dns
    qtype = f" ({dns.qtype})" if dns is not None and dns.qtype else ""
    return f"query {c.item}{qtype}{c.by}; closest known names", c.closest(ItemKind.DNS)


def _listen(c: _Context) -> tuple[str, list[str]]:
    ports = c.closest(ItemKind.LISTEN)
    return f"listen {c.item}{c.by}; known listening ports", ports


def _file_write(c: _Context) -> tuple[str, list[str]]:
    return f"write {c.item}{c.by}; closest known writes", c.closest(ItemKind.FILE_WRITE)


_WHAT: dict[ItemKind, tuple[str, Callable[[_Context], tuple[str, list[str]]]]] = {
    ItemKind.EXECUTABLE: ("new executable", _executable),
    ItemKind.PROCESS: ("new parent", _process),
    ItemKind.ARGUMENTS: ("new arguments", _arguments),
    ItemKind.USER: ("new user", _user),
    ItemKind.DESTINATION: ("new destination", _destination),
    ItemKind.DNS: ("new DNS name", _dns),
    ItemKind.LISTEN: ("new listening port", _listen),
    ItemKind.FILE_WRITE: ("new file write", _file_write),
}


def describe(
    profile: Profile, kind: ItemKind, item: str, event: Event, looked_up: str | None = None
) -> tuple[str, list[str]]:
    """One line on what was new and what the profile knew that came closest; and those items."""
    title, explain = _WHAT[kind]
    what, near = explain(_Context(profile, item, event, looked_up))
    return f"{title} in workload {profile.key}: {what}: {_listed(near)}", near[:5]


def find(
    profile: Profile, found: list[tuple[ItemKind, str]], event: Event, looked_up: str | None
) -> tuple[list[Deviation], bool]:
    """What ``event`` shows that the locked ``profile`` lacks and has not reported yet; and
    whether the profile changed (what it reported, or suppressed)."""
    deviations: list[Deviation] = []
    changed = False
    # An unknown program's parent and arguments are new by definition: its one alert
    # (new executable) says it all, whichever arguments it runs with later.
    unknown_program = event.type is EventType.EXEC and not profile.knows(
        ItemKind.EXECUTABLE, event.process.exe
    )
    for kind, item in found:
        if unknown_program and kind in (ItemKind.PROCESS, ItemKind.ARGUMENTS):
            continue
        if profile.knows(kind, item):
            continue
        seen = f"{kind.value}:{item}"
        if seen in profile.reported:
            continue
        changed = True
        if len(profile.reported) >= MAX_REPORTED:
            profile.deviations_suppressed += 1
            continue
        profile.reported.add(seen)
        summary, near = describe(profile, kind, item, event, looked_up)
        deviations.append(Deviation(profile, kind, item, event, summary, tuple(near)))
    return deviations, changed
