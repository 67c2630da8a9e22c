"""``fd.*`` and ``dns.*``: the file or socket an event used, and the name a lookup asked for.

A socket has two pairs of ends: client/server (who connected to whom; an accepted or listening
socket's server is the local end) and local/remote. Each pair is read as one tuple
``(ip, port, ip, port)``; the fields pick from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.detect.rules.fields.base import (
    FieldDef,
    Getter,
    Kind,
    basename,
    ip_address,
    plain,
)
from vigil.detect.rules.fields.evt import raw_result
from vigil.models import Event, EventType

Ends = tuple[str, int, str, int]


def _client_server(event: Event) -> Ends | None:
    """(client ip, client port, server ip, server port) of a network event."""
    n = event.network
    if n is None:
        return None
    if event.type in (EventType.ACCEPT, EventType.LISTEN):
        return n.dest_ip, n.dest_port, n.local_ip, n.local_port
    return n.local_ip, n.local_port, n.dest_ip, n.dest_port


def _local_remote(event: Event) -> Ends | None:
    n = event.network
    if n is None:
        return None
    return n.local_ip, n.local_port, n.dest_ip, n.dest_port


def _address(ends: Callable[[Event], Ends | None], index: int, as_net: bool = False) -> Getter:
    """The address at ``index`` (0 or 2) of ``ends``; as an ip_address object for ``*net``."""

    def get(event: Event) -> Any:
        found = ends(event)
        if found is None or not found[index]:
            return None
        value = found[index]
        return ip_address(str(value)) if as_net else value

    return get


def _port(ends: Callable[[Event], Ends | None], index: int) -> Getter:
    def get(event: Event) -> Any:
        found = ends(event)
        return None if found is None else found[index] or None

    return get


def _either_end(port: bool, as_net: bool = False) -> Getter:
    """Both ends' ports or addresses, as a multi-valued field."""

    def get(event: Event) -> Any:
        ends = _client_server(event)
        if ends is None:
            return None
        if port:
            return tuple(p for p in (ends[1], ends[3]) if p) or None
        ips = [ip for ip in (ends[0], ends[2]) if ip]
        values = tuple(ip_address(str(ip)) for ip in ips) if as_net else tuple(ips)
        return tuple(v for v in values if v is not None) or None

    return get


def _fd_name(event: Event) -> str | None:
    if event.file is not None:
        return event.file.path
    ends = _client_server(event)
    if ends is None:
        return None
    cip, cport, sip, sport = ends
    return f"{cip}:{cport}->{sip}:{sport}"


def _fd_kind(file: str, ipv4: str, ipv6: str, other: str) -> Getter:
    """A descriptor's kind as text: ``file`` for a file, else by the socket's family."""
    by_family = {"ipv4": ipv4, "ipv6": ipv6}

    def get(event: Event) -> str | None:
        if event.file is not None:
            return file
        if event.network is not None:
            return by_family.get(event.network.family, other)
        return None

    return get


def _fd_num(event: Event) -> int | None:
    # The sensor reports descriptors that were obtained (opens and sockets that worked or are
    # in progress); their number is not carried, so 0 stands for "a valid descriptor".
    if event.file is not None:
        return 0
    if event.network is not None:
        return 0 if raw_result(event) >= 0 or raw_result(event) == -115 else -1
    return None


def _directory(event: Event) -> str | None:
    return event.file.path.rpartition("/")[0] or "/" if event.file else None


def _f(name: str, kind: Kind, getter: Getter, doc: str = "", multi: bool = False) -> FieldDef:
    return FieldDef(name, kind, plain(getter), doc, multi=multi)


S, I, B, N = Kind.STR, Kind.INT, Kind.BOOL, Kind.NET  # noqa: E741 - short for the table
_CS, _LR = _client_server, _local_remote

FD_FIELDS = (
    _f("fd.name", S, _fd_name, "file path, or client:port->server:port"),
    _f("fd.nameraw", S, lambda e: e.file.path if e.file else None),
    _f("fd.directory", S, _directory),
    _f("fd.filename", S, lambda e: basename(e.file.path) if e.file else None),
    _f("fd.typechar", S, _fd_kind("f", "4", "6", "u")),
    _f("fd.type", S, _fd_kind("file", "ipv4", "ipv6", "unix")),
    _f("fd.num", I, _fd_num, "0 for any valid descriptor (the number is not carried)"),
    _f("fd.l4proto", S, lambda e: e.network.protocol if e.network else None),
    _f("fd.sockfamily", S, lambda e: "ip" if e.network and e.network.family != "packet" else None),
    _f("fd.connected", B, lambda e: e.type is EventType.CONNECT if e.network else None),
    _f("fd.name_changed", B, lambda e: False if e.network or e.file else None),
    _f("fd.cip", S, _address(_CS, 0), "client address"),
    _f("fd.cport", I, _port(_CS, 1)),
    _f("fd.sip", S, _address(_CS, 2), "server address"),
    _f("fd.sport", I, _port(_CS, 3)),
    _f("fd.lip", S, _address(_LR, 0)),
    _f("fd.lport", I, _port(_LR, 1)),
    _f("fd.rip", S, _address(_LR, 2)),
    _f("fd.rport", I, _port(_LR, 3)),
    _f("fd.ip", S, _either_end(port=False), "either end's address", multi=True),
    _f("fd.port", I, _either_end(port=True), "either end's port", multi=True),
    _f("fd.net", N, _either_end(port=False, as_net=True), "either end, vs CIDR", multi=True),
    _f("fd.cnet", N, _address(_CS, 0, as_net=True)),
    _f("fd.snet", N, _address(_CS, 2, as_net=True)),
    _f("fd.lnet", N, _address(_LR, 0, as_net=True)),
    _f("fd.rnet", N, _address(_LR, 2, as_net=True)),
    _f("dns.name", S, lambda e: e.dns.name.rstrip(".").lower() if e.dns else None, "vigil"),
    _f("dns.qtype", S, lambda e: e.dns.qtype if e.dns else None, "vigil"),
)
