"""vigil.sensor.proc_connector: netlink messages built and parsed."""

from __future__ import annotations

import struct

from vigil.sensor.proc_connector import (
    CN_IDX_PROC,
    CN_MSG,
    NLMSGHDR,
    PROC_EVENT,
    PROC_EVENT_EXIT,
    listen_message,
    parse_messages,
)


def test_proc_connector_messages() -> None:
    listen = listen_message()
    assert NLMSGHDR.unpack_from(listen)[0] == len(listen)
    body = struct.pack("=IIII", 77, 77, 3 << 8, 0)
    cn = CN_MSG.pack(CN_IDX_PROC, 1, 0, 0, PROC_EVENT.size + len(body), 0)
    payload = cn + PROC_EVENT.pack(PROC_EVENT_EXIT, 0, 123) + body
    datagram = NLMSGHDR.pack(NLMSGHDR.size + len(payload), 3, 0, 0, 0) + payload
    assert parse_messages(datagram) == [(PROC_EVENT_EXIT, 123, body)]
    assert parse_messages(datagram[:10]) == []
    assert parse_messages(b"\xff" * 40) == []
