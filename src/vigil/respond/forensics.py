"""Capture what a container's processes are doing before anything destroys the evidence.

Into ``<data-dir>/forensics/<alert-id>/``: ``processes.json`` (the tree: pid, ppid, command line,
environment with secrets redacted, cwd, open files, sockets) and, per distinct executable, its
SHA-256 and a copy (``exe/<sha256>``, size-bounded). Everything is read from ``proc_root``
(injectable), so a capture works the same on fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.errors import RuntimeActionError
from vigil.respond.process import read_stat

#: environment variables whose value is never written down
SECRET_NAME = re.compile(r"pass|secret|token|key|cred|auth|cookie|session|private", re.IGNORECASE)
#: values that look like credentials whatever their name
SECRET_VALUE = re.compile(r"(?i)^(bearer |basic )|-----BEGIN [A-Z ]*PRIVATE KEY-----")
REDACTED = "<redacted>"
MAX_EXE_BYTES = 64 << 20
MAX_PROCESSES = 512
MAX_FDS = 256
_SOCKET_TABLES = ("tcp", "tcp6", "udp", "udp6", "unix")


def redact_environ(raw: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        if not item:
            continue
        name, _, value = item.decode("utf-8", "backslashreplace").partition("=")
        secret = SECRET_NAME.search(name) or SECRET_VALUE.search(value)
        env[name] = REDACTED if secret else value[:512]
    return env


def _hex_addr(text: str) -> str:
    address, _, port = text.partition(":")
    raw = bytes.fromhex(address)
    if len(raw) == 4:
        ip = ".".join(str(b) for b in raw[::-1])
    else:  # four little-endian 32-bit words
        words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
        ip = ":".join(b"".join(words)[i : i + 2].hex() for i in range(0, 16, 2))
    return f"{ip}:{int(port, 16)}"


def socket_table(proc_root: Path, pid: int) -> dict[str, dict[str, str]]:
    """Socket inode → {proto, local, remote} from the process's network namespace."""
    found: dict[str, dict[str, str]] = {}
    for proto in _SOCKET_TABLES:
        try:
            lines = (proc_root / str(pid) / "net" / proto).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if proto == "unix":
                if len(fields) >= 7:
                    path = fields[7] if len(fields) > 7 else ""
                    found[fields[6]] = {"proto": "unix", "path": path}
                continue
            if len(fields) >= 10:
                found[fields[9]] = {
                    "proto": proto,
                    "local": _hex_addr(fields[1]),
                    "remote": _hex_addr(fields[2]),
                    "state": fields[3],
                }
    return found


@dataclass(frozen=True, slots=True)
class Capture:
    directory: Path
    processes: int
    executables: int


class Forensics:
    def __init__(
        self, out_dir: Path, *, proc_root: str = "/proc", max_exe_bytes: int = MAX_EXE_BYTES
    ) -> None:
        self.out_dir = out_dir
        self.proc_root = Path(proc_root)
        self.max_exe_bytes = max_exe_bytes

    def capture(self, name: str, pids: Iterable[int]) -> Capture:
        """Record ``pids`` (e.g. a container's cgroup.procs) under ``out_dir/name``."""
        target = self.out_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100]
        try:
            (target / "exe").mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise RuntimeActionError(f"cannot create {target}: {exc.strerror}") from None
        processes = []
        hashes: dict[str, str] = {}
        for pid in sorted(set(pids))[:MAX_PROCESSES]:
            info = self._process(pid, target, hashes)
            if info is not None:
                processes.append(info)
        if not processes:
            raise RuntimeActionError("no process left to capture")
        (target / "processes.json").write_text(json.dumps(processes, indent=1, sort_keys=True))
        return Capture(target, len(processes), len(set(hashes.values())))

    def _process(self, pid: int, target: Path, hashes: dict[str, str]) -> dict[str, Any] | None:
        base = self.proc_root / str(pid)
        stat = read_stat(self.proc_root, pid)
        if stat is None:
            return None
        info: dict[str, Any] = {"pid": pid, "ppid": stat.ppid, "start_ticks": stat.start_ticks}
        try:
            info["cmdline"] = [
                a.decode("utf-8", "backslashreplace")
                for a in (base / "cmdline").read_bytes().split(b"\0")
                if a
            ]
            info["environ"] = redact_environ((base / "environ").read_bytes())
        except OSError:
            return None  # it exited while we looked
        for link in ("cwd", "exe", "root"):
            try:
                info[link] = os.readlink(base / link)
            except OSError:
                info[link] = None
        sockets = socket_table(self.proc_root, pid)
        files, socks = [], []
        try:
            fds = sorted(os.listdir(base / "fd"), key=lambda fd: int(fd) if fd.isdigit() else 0)
        except OSError:
            fds = []
        for fd in fds[:MAX_FDS]:
            try:
                where = os.readlink(base / "fd" / fd)
            except OSError:
                continue
            if where.startswith("socket:["):
                inode = where[8:-1]
                socks.append({"fd": int(fd), "inode": inode, **sockets.get(inode, {})})
            else:
                files.append({"fd": int(fd), "path": where})
        info["files"], info["sockets"] = files, socks
        info["exe_sha256"] = self._copy_exe(base / "exe", target / "exe", hashes)
        return info

    def _copy_exe(self, exe: Path, into: Path, hashes: dict[str, str]) -> str | None:
        """Hash the executable through /proc (works even if it was deleted) and keep a copy."""
        try:
            key = str(exe.stat().st_ino) + ":" + str(exe.stat().st_dev)
            if key in hashes:
                return hashes[key]
            digest = hashlib.sha256()
            with exe.open("rb") as source:
                size = os.fstat(source.fileno()).st_size
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
                copy = into / digest.hexdigest()
                if size <= self.max_exe_bytes and not copy.exists():
                    source.seek(0)
                    with copy.open("wb") as out:
                        shutil.copyfileobj(source, out)
        except OSError:
            return None
        hashes[key] = digest.hexdigest()
        return hashes[key]


def cgroup_procs(cgroup_paths: dict[str, str] | Any) -> list[int]:
    """Every pid in the container's cgroup (v2 ``""`` or any v1 controller that lists them)."""
    for controller in ("", "pids", "freezer", "memory", "cpu,cpuacct", "devices"):
        path = cgroup_paths.get(controller)
        if not path:
            continue
        try:
            text = (Path(path) / "cgroup.procs").read_text()
        except OSError:
            continue
        pids = [int(line) for line in text.split() if line.isdigit()]
        if pids:
            return pids
    return []
