"""What a profile is made of: the kinds of items, how events yield them, how they are matched.

Every item is a plain string, so profiles stay easy to store, diff, review and write into kernel
maps:

==============  =====================================  ============================
kind            item                                   from
==============  =====================================  ============================
executable      ``/bin/sleep``                          exec
process         ``/bin/sh -> /bin/sleep`` (parent → it) exec with a parent executable
arguments       ``/bin/sleep <num>``                    exec (generalised)
user            ``101`` (uid)                           exec
destination     ``tcp/10.0.0.7:443``, ``tcp/10.0.0.0/24:443``  connect
dns             ``api.example.com``, ``*.example.com``  dns
listen          ``tcp/8080``                            listen
file_write      ``/var/cache/app/<num>.tmp``, ``/data/*``  open for write/create/truncate
==============  =====================================  ============================
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from enum import StrEnum

from vigil.detect import generalize as g
from vigil.models import Event, EventType

WRITE_OPERATIONS = frozenset({"write", "create", "truncate"})


class ItemKind(StrEnum):
    EXECUTABLE = "executable"
    PROCESS = "process"
    ARGUMENTS = "arguments"
    USER = "user"
    DESTINATION = "destination"
    DNS = "dns"
    LISTEN = "listen"
    FILE_WRITE = "file_write"


#: the field of a profile (and its JSON/YAML) that holds each kind
FIELD_OF_KIND: dict[ItemKind, str] = {
    ItemKind.EXECUTABLE: "executables",
    ItemKind.PROCESS: "processes",
    ItemKind.ARGUMENTS: "arguments",
    ItemKind.USER: "users",
    ItemKind.DESTINATION: "destinations",
    ItemKind.DNS: "dns",
    ItemKind.LISTEN: "listening",
    ItemKind.FILE_WRITE: "file_writes",
}
KIND_OF_FIELD = {name: kind for kind, name in FIELD_OF_KIND.items()}

PROCESS_ARROW = " -> "


def items_of(event: Event) -> list[tuple[ItemKind, str]]:
    """The profile items an event shows, most telling first."""
    found: list[tuple[ItemKind, str]] = []
    process = event.process
    if event.type is EventType.EXEC:
        found.append((ItemKind.EXECUTABLE, process.exe))
        if process.parent_exe:
            found.append((ItemKind.PROCESS, f"{process.parent_exe}{PROCESS_ARROW}{process.exe}"))
        arguments = g.argument_pattern(process.cmdline)
        found.append((ItemKind.ARGUMENTS, f"{process.exe} {arguments}".rstrip(" ")))
        found.append((ItemKind.USER, str(process.uid)))
    elif event.type is EventType.CONNECT and event.network is not None:
        found.append((ItemKind.DESTINATION, event.network.destination))
    elif event.type is EventType.DNS and event.dns is not None and event.dns.name:
        found.append((ItemKind.DNS, g.dns_pattern(event.dns.name)))
    elif event.type is EventType.LISTEN and event.network is not None:
        found.append((ItemKind.LISTEN, f"{event.network.protocol}/{event.network.local_port}"))
    elif (
        event.type is EventType.OPEN
        and event.file is not None
        and event.file.operation in WRITE_OPERATIONS
    ):
        found.append((ItemKind.FILE_WRITE, g.path_pattern(event.file.path)))
    return found


_COVERS: dict[ItemKind, Callable[[str, str], bool]] = {
    ItemKind.DESTINATION: g.destination_covered,
    ItemKind.FILE_WRITE: g.path_covered,
    ItemKind.DNS: g.name_covered,
    ItemKind.ARGUMENTS: g.arguments_covered,
}


def is_known(kind: ItemKind, item: str, known: set[str]) -> bool:
    """Whether ``item`` is in ``known`` or covered by one of its folded patterns."""
    if item in known:
        return True
    covers = _COVERS.get(kind)
    return covers is not None and any(covers(item, pattern) for pattern in known)


def fold(kind: ItemKind, item: str, known: set[str]) -> str | None:
    """The pattern ``item``'s group folds into now, if it has grown big enough."""
    if kind is ItemKind.DESTINATION:
        return g.fold_destination(item, known)
    if kind is ItemKind.FILE_WRITE:
        return g.fold_path(item, known)
    if kind is ItemKind.DNS:
        return g.fold_name(item, known)
    if kind is ItemKind.ARGUMENTS:
        return g.fold_arguments(item, known, item.split(" ", 1)[0])
    return None


def covered_by(kind: ItemKind, pattern: str, known: Iterable[str]) -> list[str]:
    covers = _COVERS.get(kind)
    return [item for item in known if covers is not None and covers(item, pattern)]


# -- what the profile knew that was closest ------------------------------------------------
def _common_prefix(a: str, b: str) -> int:
    return len(posixpath.commonprefix([a, b]))


def _common_suffix(a: str, b: str) -> int:
    return len(posixpath.commonprefix([a[::-1], b[::-1]]))


def closest(kind: ItemKind, item: str, known: Iterable[str], limit: int = 5) -> list[str]:
    """The known items most like ``item`` (same port, same path prefix, same domain, …)."""
    candidates = list(known)
    if kind is ItemKind.DNS:
        score: Callable[[str], tuple[int, ...]] = lambda k: (_common_suffix(item, k),)  # noqa: E731
    elif kind is ItemKind.DESTINATION:
        parts = g.destination_parts(item)
        port = parts[2] if parts else ""

        def score(k: str) -> tuple[int, ...]:
            other = g.destination_parts(k)
            same_port = int(other is not None and other[2] == port)
            return (same_port, _common_prefix(item, k))

    else:
        score = lambda k: (_common_prefix(item, k),)  # noqa: E731
    return sorted(candidates, key=lambda k: (tuple(-s for s in score(k)), k))[:limit]
