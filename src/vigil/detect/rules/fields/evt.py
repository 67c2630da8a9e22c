"""``evt.*`` and ``syscall.type``: the event itself — its syscall, result, flags and arguments."""

from __future__ import annotations

from typing import Any

from vigil.detect.rules.evttypes import falco_name
from vigil.detect.rules.fields.base import Arg, FieldDef, Getter, Kind, plain
from vigil.models import Event, EventType

_OPEN_FLAGS = (
    (0o1, "O_WRONLY"),
    (0o2, "O_RDWR"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o2000000, "O_CLOEXEC"),
    (0o20000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"),
)
_MODE_BITS = (
    (0o4000, "S_ISUID"),
    (0o2000, "S_ISGID"),
    (0o1000, "S_ISVTX"),
    (0o400, "S_IRUSR"),
    (0o200, "S_IWUSR"),
    (0o100, "S_IXUSR"),
    (0o40, "S_IRGRP"),
    (0o20, "S_IWGRP"),
    (0o10, "S_IXGRP"),
    (0o4, "S_IROTH"),
    (0o2, "S_IWOTH"),
    (0o1, "S_IXOTH"),
)
_ERRNO_NAMES = {-115: "EINPROGRESS", -111: "ECONNREFUSED", -13: "EACCES", -1: "EPERM", -2: "ENOENT"}


def open_flags_text(flags: int) -> str:
    names = [name for bit, name in _OPEN_FLAGS if flags & bit == bit]
    if not flags & 0o3:
        names.insert(0, "O_RDONLY")
    return "|".join(names)


def mode_text(mode: int) -> str:
    return "|".join(name for bit, name in _MODE_BITS if mode & bit)


def _exe_flags(event: Event) -> str:
    p = event.process
    flags = [
        name
        for present, name in (
            (p.exe_on_writable_layer, "EXE_UPPER_LAYER"),
            (p.exe_from_memfd, "EXE_FROM_MEMFD"),
            (p.exe_changed_after_start, "EXE_WRITABLE"),
        )
        if present
    ]
    return "|".join(flags) if flags else "0"


def _evt_flags(event: Event) -> str | None:
    if event.type is EventType.EXEC:
        return _exe_flags(event)
    if event.file is not None and event.type is EventType.OPEN:
        return open_flags_text(event.file.flags)
    if event.syscall is not None and "flags" in event.syscall.args:
        return str(event.syscall.args["flags"])
    return None


def raw_result(event: Event) -> int:
    """The syscall's return value (network events carry it; the others succeeded)."""
    if event.network is not None and event.network.result is not None:
        return event.network.result
    return 0


def _result(event: Event) -> str:
    raw = raw_result(event)
    if raw >= 0:
        return "SUCCESS"
    return _ERRNO_NAMES.get(raw, str(raw))


def _evt_arg(name: str | None) -> Getter:
    """``evt.arg.NAME`` / ``evt.arg[NAME]``: syscall arguments rendered as text."""
    key = name or ""

    def get(event: Event) -> Any:  # noqa: PLR0911 - one return per argument name
        if event.syscall is not None and key in event.syscall.args:
            value = event.syscall.args[key]
            if key == "mode" and isinstance(value, int):
                return mode_text(value)
            return str(value)
        f = event.file
        if f is not None:
            if key in ("path", "name", "filename", "pathname"):
                return f.path
            if key in ("oldpath", "target") and event.type is not EventType.SYMLINK:
                return f.path
            if key in ("newpath", "linkpath"):
                return f.target or None
            if key == "target":  # symlink(target, linkpath)
                return f.path
            if key == "mode" and f.mode is not None:
                return mode_text(f.mode)
            if key == "flags":
                return _evt_flags(event)
        if key == "flags":
            return _evt_flags(event)
        if key == "domain" and event.type is EventType.PACKET_SOCKET:
            return "AF_PACKET"
        if key in ("res", "res_or_fd"):
            return str(raw_result(event))
        return None

    return get


def _is_open(read: bool) -> Getter:
    def get(event: Event) -> Any:
        if event.type is not EventType.OPEN or event.file is None:
            return None
        is_read = event.file.operation == "read"
        return is_read if read else not is_read

    return get


def _constant(value: str) -> Getter:
    return lambda _event: value


def evt_fields(hostname: str) -> list[FieldDef]:
    """The ``evt.*`` family; ``evt.hostname`` reads ``hostname``."""
    f, S, I, B = FieldDef, Kind.STR, Kind.INT, Kind.BOOL  # noqa: E741 - short for the table
    return [
        f("evt.type", S, plain(falco_name), "syscall name (Falco's), e.g. execve, openat, connect"),
        f("evt.dir", S, plain(_constant("<")), "always '<': vigil reports finished syscalls"),
        f("evt.time", S, plain(lambda e: e.time.isoformat()), "event time"),
        f("evt.hostname", S, plain(_constant(hostname)), "this node's host name"),
        f("evt.res", S, plain(_result), "SUCCESS or an errno name (EINPROGRESS, …)"),
        f("evt.rawres", I, plain(raw_result), "the syscall's return value"),
        f("evt.arg", S, _evt_arg, "syscall argument by name", Arg.REQUIRED),
        f("evt.is_open_read", B, plain(_is_open(read=True)), "open for reading"),
        f("evt.is_open_write", B, plain(_is_open(read=False)), "open for writing/create/truncate"),
        f("syscall.type", S, plain(falco_name)),
    ]
