"""Mount the kernel filesystems the eBPF sensor relies on, and only those, when they are missing.

libbpf resolves ``tp/<category>/<name>`` tracepoints through tracefs at /sys/kernel/tracing;
bpffs at /sys/fs/bpf is where BPF objects get pinned. Fresh machines may have neither.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import PrivilegeError, SensorError

log = logging.getLogger("vigil.sensor.mounts")

MNT_DETACH = 2


@dataclass(frozen=True, slots=True)
class KernelFilesystem:
    fstype: str
    target: str


BPFFS = KernelFilesystem("bpf", "/sys/fs/bpf")
TRACEFS = KernelFilesystem("tracefs", "/sys/kernel/tracing")
REQUIRED = (BPFFS, TRACEFS)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.mount.restype = ctypes.c_int
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int


def mounted(mounts_path: str | Path = "/proc/self/mounts") -> set[tuple[str, str]]:
    """(fstype, mount point) of every mount listed in ``mounts_path``."""
    found: set[tuple[str, str]] = set()
    for line in Path(mounts_path).read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3:
            # mount points escape spaces as \040; ours have none, so no unescaping needed
            found.add((fields[2], fields[1]))
    return found


def ensure_kernel_filesystems(
    mounts_path: str | Path = "/proc/self/mounts",
    wanted: tuple[KernelFilesystem, ...] = REQUIRED,
) -> list[KernelFilesystem]:
    """Mount each of ``wanted`` that is not mounted yet; return the ones this call mounted."""
    present = mounted(mounts_path)
    done: list[KernelFilesystem] = []
    for fs in wanted:
        if (fs.fstype, fs.target) in present:
            continue
        try:
            _mount(fs)
        except Exception:
            unmount(done)
            raise
        log.info("mounted %s at %s", fs.fstype, fs.target)
        done.append(fs)
    return done


def unmount(filesystems: list[KernelFilesystem]) -> None:
    """Undo :func:`ensure_kernel_filesystems` (in reverse order); failures are logged only."""
    for fs in reversed(filesystems):
        if _libc.umount2(fs.target.encode(), 0) == 0:
            continue
        err = ctypes.get_errno()
        if _libc.umount2(fs.target.encode(), MNT_DETACH) != 0:  # busy: detach lazily
            log.warning("cannot unmount %s at %s: %s", fs.fstype, fs.target, os.strerror(err))


def _mount(fs: KernelFilesystem) -> None:
    if _libc.mount(fs.fstype.encode(), fs.target.encode(), fs.fstype.encode(), 0, None) == 0:
        return
    err = ctypes.get_errno()
    message = f"cannot mount {fs.fstype} at {fs.target}: {os.strerror(err)}"
    if err == errno.EPERM:
        raise PrivilegeError(message, hint="run vigil as root (CAP_SYS_ADMIN)")
    raise SensorError(message, hint=f"mount it yourself: mount -t {fs.fstype} none {fs.target}")
