"""How much of a Falco rules file vigil loads, compiles and evaluates — the compatibility
report (``vigil rules report``, committed as docs/falco-compat.md)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vigil.detect.rules.compiler import CompiledRule, compile_ruleset
from vigil.detect.rules.fields import FieldRegistry
from vigil.detect.rules.loader import load_rule_files
from vigil.detect.rules.model import RuleError
from vigil.models import (
    ContainerInfo,
    DnsInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    ProcessInfo,
    SyscallInfo,
    Workload,
)

FALCO_FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")


def find_falco_dir(*starts: Path) -> Path | None:
    """Falco's files as test data: ``shared/data/falco`` beside the repository or beside any
    folder above it (a worktree, CI's clone), or ``$VIGIL_FALCO_RULES``."""
    override = os.environ.get("VIGIL_FALCO_RULES")
    if override:
        return Path(override)
    for start in starts:
        for folder in (start.resolve(), *start.resolve().parents):
            candidate = folder / "shared" / "data" / "falco"
            if all((candidate / name).is_file() for name in FALCO_FILES):
                return candidate
    return None


def sample_event(etype: EventType) -> Event:
    """One event of ``etype`` with every detail filled, to exercise every getter."""
    network = file = dns = syscall = None
    if etype in (EventType.CONNECT, EventType.ACCEPT, EventType.LISTEN, EventType.PACKET_SOCKET):
        network = NetworkInfo("tcp", "ipv4", "203.0.113.10", 443, "10.1.2.3", 40000, -115)
    if etype is EventType.DNS:
        dns = DnsInfo("example.com", "A")
        network = NetworkInfo("udp", "ipv4", "10.96.0.10", 53, "10.1.2.3", 40001)
    if etype in (
        EventType.OPEN,
        EventType.SYMLINK,
        EventType.LINK,
        EventType.RENAME,
        EventType.UNLINK,
        EventType.CHMOD,
    ):
        file = FileInfo(
            "/etc/shadow",
            "read" if etype is EventType.OPEN else etype.value,
            flags=0o100,
            mode=0o4755,
            target="/tmp/x",
        )
    if etype in (
        EventType.SETUID,
        EventType.SETGID,
        EventType.PTRACE,
        EventType.MOUNT,
        EventType.UMOUNT,
        EventType.UNSHARE,
        EventType.SETNS,
        EventType.MEMFD_CREATE,
        EventType.BPF,
        EventType.MODULE_LOAD,
    ):
        syscall = SyscallInfo(etype.value, {"uid": 0, "request": 16, "cmd": 5, "flags": 0})
    return Event(
        type=etype,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        ktime_ns=1,
        cgroup_id=7,
        process=ProcessInfo(
            pid=42,
            ppid=1,
            uid=1000,
            euid=0,
            gid=0,
            exe="/usr/bin/python3",
            cmdline="python3 -c print(1)",
            cwd="/app",
            parent_exe="/bin/sh",
            ancestors=("/usr/sbin/nginx", "/sbin/init"),
        ),
        network=network,
        file=file,
        dns=dns,
        syscall=syscall,
        container=ContainerInfo("c0ffee", "web", "registry.example/web:1.2", "runc"),
        workload=Workload("shop", "Deployment", "web", "web"),
    )


@dataclass(frozen=True, slots=True)
class FileReport:
    name: str
    rules: int
    enabled: int
    compiled: int
    evaluated: int  # compiled, can match some vigil event, and ran on samples without error
    fully_supported: int  # ... and names no field or event type vigil cannot fill
    errors: tuple[RuleError, ...]
    missing_fields: Counter[str]
    missing_types: Counter[str]
    missing_output_fields: Counter[str]
    cannot_trigger: tuple[tuple[str, str], ...]


def _evaluates(rule: CompiledRule) -> bool:
    try:
        for etype, predicate in rule.predicates.items():
            predicate(sample_event(etype))
            rule.output.format(sample_event(etype))
    except Exception:
        return False
    return bool(rule.predicates)


def report_file(path: Path, registry: FieldRegistry | None = None) -> FileReport:
    ruleset = load_rule_files([path])
    registry = registry or FieldRegistry(hostname="node")
    compiled = compile_ruleset(ruleset, registry, include_disabled=True)
    missing_fields: Counter[str] = Counter()
    missing_types: Counter[str] = Counter()
    missing_output: Counter[str] = Counter()
    cannot: list[tuple[str, str]] = []
    evaluated = full = 0
    for rule in compiled.rules:
        missing_fields.update(rule.unsupported_fields)
        missing_types.update(rule.unsupported_types)
        missing_output.update(rule.unsupported_output_fields)
        if _evaluates(rule):
            evaluated += 1
            full += not (rule.unsupported_fields or rule.unsupported_types)
        else:
            why = sorted(rule.unsupported_fields | rule.unsupported_types) or ["no vigil event"]
            cannot.append((rule.name, ", ".join(why)))
    return FileReport(
        name=path.name,
        rules=len(ruleset.rules),
        enabled=sum(r.enabled for r in ruleset.rules),
        compiled=len(compiled.rules),
        evaluated=evaluated,
        fully_supported=full,
        errors=compiled.errors,
        missing_fields=missing_fields,
        missing_types=missing_types,
        missing_output_fields=missing_output,
        cannot_trigger=tuple(cannot),
    )


def render_report(reports: Iterable[FileReport]) -> str:
    reports = list(reports)
    lines = [
        "# Falco rules compatibility",
        "",
        "Generated by `vigil rules report` from Falco's public rule files (falcosecurity/rules),",
        "loaded unchanged. *Compiled*: parsed, macros and lists expanded, fields resolved.",
        "*Evaluates*: can match at least one event type vigil reports, and ran on a sample",
        "event of each such type. *Fully supported*: names no field or event type vigil",
        "cannot fill (such fields read as absent: comparisons on them are false).",
        "",
        "| file | rules | enabled | compiled | evaluates | fully supported | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.name} | {r.rules} | {r.enabled} | {r.compiled} | {r.evaluated} | "
            f"{r.fully_supported} | {len(r.errors)} |"
        )
    for r in reports:
        lines += ["", f"## {r.name}", ""]
        if r.errors:
            lines += ["Errors:", ""] + [f"- `{e}`" for e in r.errors] + [""]
        fields = ", ".join(f"`{n}` ({c})" for n, c in sorted(r.missing_fields.items()))
        types = ", ".join(f"`{n}` ({c})" for n, c in sorted(r.missing_types.items()))
        output = ", ".join(f"`{n}` ({c})" for n, c in sorted(r.missing_output_fields.items()))
        lines.append(f"Fields vigil cannot fill, in conditions (rules): {fields or 'none'}")
        lines.append("")
        lines.append(
            f"Fields vigil cannot fill, only in outputs, printed as <NA>: {output or 'none'}"
        )
        lines.append("")
        lines.append(f"Event types vigil does not report (rules naming them): {types or 'none'}")
        lines.append("")
        if r.cannot_trigger:
            lines.append("Rules that compile but cannot trigger on vigil's events:")
            lines.append("")
            lines += [f"- {name} — needs {why}" for name, why in r.cannot_trigger]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def falco_report(folder: Path) -> str:
    return render_report(report_file(folder / name) for name in FALCO_FILES)
