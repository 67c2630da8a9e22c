"""A minimal root filesystem from Debian's busybox-static."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vigil.errors import VigilError

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    raise VigilError("busybox not found", hint="install it with: apt-get install busybox-static")


def build_busybox_rootfs(target: Path, busybox: Path | None = None) -> Path:
    """Lay out ``target`` as a rootfs: busybox plus one symlink per applet, /etc basics."""
    busybox = busybox or find_busybox()
    if not _is_static(busybox):
        raise VigilError(
            f"{busybox} is dynamically linked and will not run inside a bare rootfs",
            hint="install the static build: apt-get install busybox-static",
        )
    for sub in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, target / "bin" / "busybox")
    applets = subprocess.run(
        [str(busybox), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        link = target / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (target / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (target / "etc" / "group").write_text("root:x:0:\n")
    (target / "etc" / "hostname").write_text("vigil-lab\n")
    (target / "tmp").chmod(0o1777)
    return target


def _is_static(binary: Path) -> bool:
    # A dynamic ELF carries a PT_INTERP segment naming its loader; a static one does not.
    return b"ld-linux" not in binary.read_bytes()[:8192]
