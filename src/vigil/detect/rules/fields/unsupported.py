"""Falco fields vigil's events cannot fill. They are *known*: a Falco rule naming one still
compiles, reads it as absent (every comparison false, ``exists`` false), and the compatibility
report lists it. Unknown names, by contrast, are errors."""

from __future__ import annotations

from vigil.detect.rules.fields.base import Arg, FieldDef, Kind

_NAMES: dict[Kind, tuple[str, ...]] = {
    Kind.STR: (
        "evt.args",
        "evt.buffer",
        "evt.info",
        "proc.tty",
        "proc.env",
        "proc.pcmdline",
        "proc.sname",
        "proc.vpgid.name",
        "proc.vpgid.exe",
        "proc.exe_ino.mtime",
        "proc.exe_ino.ctime",
        "proc.acmdline",
        "proc.cmdnargs",
        "user.loginname",
        "user.homedir",
        "user.shell",
        "thread.cap_permitted",
        "thread.cap_effective",
        "thread.cap_inheritable",
        "container.mounts",
        "container.mount.dest",
        "container.mount.source",
        "container.image.id",
        "container.image.digest",
        "container.healthcheck",
        "k8s.pod.name",
        "k8s.pod.id",
        "k8s.pod.label",
        "k8s.pod.labels",
        "k8s.ns.label",
        "k8s.deployment.name",
        "fd.sip.name",
        "fd.cip.name",
        "fd.rip.name",
        "fd.lip.name",
        "fd.types",
        "fs.path.name",
        "fs.path.source",
        "fs.path.target",
    ),
    Kind.INT: (
        "evt.num",
        "proc.vpid",
        "proc.pvpid",
        "proc.sid",
        "proc.vpgid",
        "proc.duration",
        "proc.ppid.duration",
        "proc.exe_ino",
        "proc.exe_ino.ctime_duration_proc_start",
        "user.loginuid",
        "container.start_ts",
        "container.duration",
        "fd.dev",
        "fd.ino",
    ),
    Kind.BOOL: (
        "evt.is_open_exec",
        "proc.is_vpgid_leader",
        "proc.is_exe_writable",
        "proc.is_sid_leader",
        "container.privileged",
        "proc.is_container_healthcheck",
        "proc.is_container_liveness_probe",
        "proc.is_container_readiness_probe",
    ),
}

UNSUPPORTED_FIELDS = tuple(
    FieldDef(name, kind, None, "Falco field vigil cannot fill", Arg.OPTIONAL, multi=False)
    for kind, names in _NAMES.items()
    for name in names
)
