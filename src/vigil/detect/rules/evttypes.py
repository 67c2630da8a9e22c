"""Falco's ``evt.type`` names (syscalls) ↔ vigil's event types.

Rules may name either: ``evt.type in (open, openat)`` and ``evt.type = open`` both select
vigil's ``open`` events. Names of syscalls vigil does not report select nothing; the
compatibility report lists them.
"""

from __future__ import annotations

from vigil.models import Event, EventType

SYSCALLS: dict[EventType, tuple[str, ...]] = {
    EventType.EXEC: ("execve", "execveat"),
    EventType.EXIT: ("procexit",),
    EventType.FORK: ("clone", "clone3", "fork", "vfork"),
    EventType.CONNECT: ("connect",),
    EventType.ACCEPT: ("accept", "accept4"),
    EventType.LISTEN: ("listen", "bind"),
    EventType.DNS: (),
    EventType.PACKET_SOCKET: ("socket",),
    EventType.OPEN: ("openat", "open", "openat2", "creat"),
    EventType.SYMLINK: ("symlink", "symlinkat"),
    EventType.LINK: ("link", "linkat"),
    EventType.RENAME: ("rename", "renameat", "renameat2"),
    EventType.UNLINK: ("unlink", "unlinkat"),
    EventType.CHMOD: ("chmod", "fchmod", "fchmodat"),
    EventType.SETUID: ("setuid", "setresuid", "setreuid"),
    EventType.SETGID: ("setgid", "setresgid", "setregid"),
    EventType.PTRACE: ("ptrace",),
    EventType.MOUNT: ("mount",),
    EventType.UMOUNT: ("umount2", "umount"),
    EventType.UNSHARE: ("unshare",),
    EventType.SETNS: ("setns",),
    EventType.MEMFD_CREATE: ("memfd_create",),
    EventType.BPF: ("bpf",),
    EventType.MODULE_LOAD: ("finit_module", "init_module"),
}

ALL_TYPES: frozenset[EventType] = frozenset(EventType)

_BY_NAME: dict[str, EventType] = {}
for _type, _names in SYSCALLS.items():
    _BY_NAME[_type.value] = _type
    for _name in _names:
        _BY_NAME[_name] = _type


def event_type_named(name: str) -> EventType | None:
    """The vigil event type a Falco syscall name or vigil type name selects, if any."""
    return _BY_NAME.get(name)


def falco_name(event: Event) -> str:
    """``evt.type`` of an event: the exact syscall when the sensor said, else the usual one."""
    names = SYSCALLS.get(event.type, ())  # e.g. sensor_loss: not a syscall
    if event.syscall is not None and event.syscall.name in names:
        return event.syscall.name
    return names[0] if names else event.type.value
