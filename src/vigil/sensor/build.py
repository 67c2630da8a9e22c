"""Compile vigil's BPF C on the host it runs on (CO-RE), once, into a cache directory.

The cache key is a hash of the BPF sources, the kernel's BTF and the target architecture, so a
kernel upgrade or a new vigil release rebuilds, and every other start reuses the object.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import SensorError, truncate

log = logging.getLogger("vigil.sensor.build")

DEFAULT_BTF = Path("/sys/kernel/btf/vmlinux")
SOURCE_DIR = Path(__file__).parent / "bpf"
MAIN_SOURCE = "vigil.bpf.c"
SOURCES = (MAIN_SOURCE, "events.h")
OBJECT_NAME = "vigil.bpf.o"
#: bump when the compile command changes in a way that changes the object
BUILD_RECIPE = "1"
TOOL_TIMEOUT_S = 180.0
KEY_LENGTH = 24
_KEY_PATTERN = re.compile(f"[0-9a-f]{{{KEY_LENGTH}}}")
MAX_ERROR_LINES = 5

#: platform.machine() → the kernel's arch name, for bpf_tracing.h's __TARGET_ARCH_*
KERNEL_ARCH = {
    "x86_64": "x86",
    "amd64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "ppc64le": "powerpc",
    "s390x": "s390",
    "riscv64": "riscv",
    "loongarch64": "loongarch",
}
APT_PACKAGE = {"clang": "clang", "bpftool": "bpftool"}


@dataclass(frozen=True, slots=True)
class BuiltObject:
    path: Path
    #: True when the object came from the cache (nothing was compiled)
    cached: bool


def kernel_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    try:
        return KERNEL_ARCH[machine]
    except KeyError:
        raise SensorError(f"unsupported CPU architecture for the eBPF sensor: {machine}") from None


def cache_key(
    source_dir: Path, btf_path: Path, arch: str, sources: tuple[str, ...] = SOURCES
) -> str:
    digest = hashlib.sha256(f"recipe={BUILD_RECIPE} arch={arch}\n".encode())
    for name in sources:
        digest.update(name.encode() + b"\0")
        digest.update((source_dir / name).read_bytes())
    digest.update(b"btf\0")
    with btf_path.open("rb") as btf:
        for chunk in iter(lambda: btf.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:KEY_LENGTH]


def build_object(
    cache_dir: Path,
    *,
    btf_path: Path = DEFAULT_BTF,
    source_dir: Path = SOURCE_DIR,
    clang: str = "clang",
    bpftool: str = "bpftool",
    machine: str | None = None,
    sources: tuple[str, ...] = SOURCES,
) -> BuiltObject:
    """The compiled object of ``sources[0]`` (``vigil.bpf.c`` by default; the other sources are
    the headers it includes) for this kernel, from ``cache_dir`` or freshly built.

    Each object needs its own ``cache_dir``: a build prunes every other entry in it."""
    if not btf_path.is_file():
        raise SensorError(
            f"{btf_path} not found: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF); "
            "the eBPF sensor needs a kernel built with it (or pass a BTF file for this kernel)"
        )
    arch = kernel_arch(machine)
    entry = cache_dir / cache_key(source_dir, btf_path, arch, sources)
    target = entry / (Path(sources[0]).stem + ".o")
    if target.is_file():
        log.debug("reusing cached BPF object %s", target)
        return BuiltObject(target, cached=True)

    clang_bin, bpftool_bin = _require_tool(clang), _require_tool(bpftool)
    entry.mkdir(parents=True, exist_ok=True)
    vmlinux_h = entry / "vmlinux.h"
    if not vmlinux_h.is_file():
        header = _run([bpftool_bin, "btf", "dump", "file", str(btf_path), "format", "c"], "bpftool")
        _write_atomically(vmlinux_h, header)
    with tempfile.TemporaryDirectory(dir=entry) as scratch:
        partial = Path(scratch) / target.name
        _run(
            [
                clang_bin,
                "-O2",
                "-g",
                "-target",
                "bpf",
                f"-D__TARGET_ARCH_{arch}",
                f"-I{entry}",
                f"-I{source_dir}",
                "-c",
                str(source_dir / sources[0]),
                "-o",
                str(partial),
            ],
            "clang",
        )
        os.replace(partial, target)  # atomic: a concurrent build never sees half an object
    log.info("compiled BPF object %s", target)
    _prune_stale(cache_dir, keep=entry)
    return BuiltObject(target, cached=False)


def _require_tool(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        package = APT_PACKAGE.get(Path(tool).name, Path(tool).name)
        raise SensorError(
            f"{tool} not found: the eBPF sensor compiles its BPF programs on this host",
            hint=f"install it with: apt-get install {package}",
        )
    return found


def _run(argv: list[str], what: str) -> bytes:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SensorError(f"{what} could not run: {truncate(exc)}") from exc
    if proc.returncode != 0:
        raise SensorError(f"{what} failed (exit {proc.returncode}): {_first_errors(proc.stderr)}")
    return proc.stdout


def _first_errors(stderr: bytes) -> str:
    """The first few error lines of a compiler's output, bounded for a one-line message."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    errors = [line for line in lines if "error" in line.lower()] or lines
    return " | ".join(truncate(line.strip(), 200) for line in errors[:MAX_ERROR_LINES]) or "?"


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune_stale(cache_dir: Path, keep: Path) -> None:
    """Drop builds for other kernels or sources: each holds a multi-megabyte vmlinux.h."""
    for entry in cache_dir.iterdir():
        if entry != keep and entry.is_dir() and _KEY_PATTERN.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
