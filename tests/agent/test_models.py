from dataclasses import replace

import pytest

from tests.fixtures.fakes import WEB, WEB_2, connect_event, exec_event
from vigil.models import (
    DnsInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    SyscallInfo,
    event_from_json,
)


def full_events() -> list[Event]:
    exe = exec_event("/tmp/x", cmdline="x --evil")
    exe = replace(
        exe,
        process=replace(
            exe.process,
            euid=0,
            gid=0,
            cwd="/tmp",
            parent_exe="/bin/sh",
            ancestors=("/bin/sh", "/usr/sbin/sshd"),
            start_ns=123,
            exe_on_writable_layer=True,
            exe_from_memfd=True,
        ),
        container=WEB_2,
        workload=WEB,
    )
    dns = replace(
        connect_event("10.96.0.10", 53, protocol="udp"),
        type=EventType.DNS,
        dns=DnsInfo("pool.minexmr.com", "A"),
    )
    listen = replace(
        connect_event("0.0.0.0", 0),
        type=EventType.LISTEN,
        network=NetworkInfo("tcp", "ipv4", "", 0, local_ip="0.0.0.0", local_port=8080, result=0),
    )
    opened = replace(
        exec_event("/bin/cat"),
        type=EventType.OPEN,
        file=FileInfo("/etc/shadow", operation="read", flags=0),
    )
    renamed = replace(
        exec_event("/bin/mv"),
        type=EventType.RENAME,
        file=FileInfo("/tmp/a", operation="rename", target="/etc/cron.d/a"),
    )
    ptrace = replace(
        exec_event("/usr/bin/gdb"),
        type=EventType.PTRACE,
        syscall=SyscallInfo("ptrace", {"request": 16, "target_pid": 42}),
    )
    exited = replace(exec_event("/bin/true"), type=EventType.EXIT)
    exited = replace(exited, process=replace(exited.process, exit_code=0))
    return [exe, dns, listen, opened, renamed, ptrace, exited]


@pytest.mark.parametrize("event", full_events(), ids=lambda e: str(e.type))
def test_event_json_round_trip(event: Event) -> None:
    assert event_from_json(event.to_json()) == event


def test_defaults_are_left_out_of_json() -> None:
    data = exec_event("/bin/sh").to_json()
    assert set(data["process"]) == {"pid", "ppid", "exe", "cmdline", "uid"}
    assert "file" not in data and "dns" not in data and "syscall" not in data
