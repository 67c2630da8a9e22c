"""Real, throw-away runc containers on a busybox rootfs, for `vigil demo` and end-to-end tests."""

from vigil.lab.rootfs import build_busybox_rootfs
from vigil.lab.runc import RuncContainer, runc_available

__all__ = ["RuncContainer", "build_busybox_rootfs", "runc_available"]
