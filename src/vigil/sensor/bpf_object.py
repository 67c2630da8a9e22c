"""One BPF object in the kernel: opened, loaded, its programs attached, and closed without a trace.

The sensor (vigil.sensor.ebpf) and the in-kernel exec block (vigil.respond.enforce) both live
through this cycle; every libbpf call goes through vigil.sensor.libbpf, whose errors name the
step that failed (``EPERM`` as :class:`~vigil.errors.PrivilegeError`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path

from vigil.errors import SensorError
from vigil.sensor import libbpf as bpf

log = logging.getLogger("vigil.sensor.bpf_object")


def every_program(_name: str) -> bool:
    return True


class BpfObject:
    """An opened BPF object file. ``load()``, then ``attach()``; ``close()`` undoes both and is
    safe to call more than once (and after a failed step)."""

    def __init__(self, path: Path, *, btf_custom_path: Path | None = None) -> None:
        self.path = path
        self._object: int | None = bpf.open_object(path, btf_custom_path)
        self.loaded = False
        self._links: dict[str, int] = {}
        self._program_fds: dict[str, int] = {}
        self._map_fds: dict[str, int] = {}
        #: programs this kernel could not attach (optional ones: see :meth:`attach`)
        self.skipped: list[str] = []

    @property
    def is_open(self) -> bool:
        return self._object is not None

    def _handle(self) -> int:
        if self._object is None:
            raise SensorError(f"BPF object {self.path} is closed")
        return self._object

    def set_max_entries(self, map_name: str, entries: int, step: str) -> None:
        """Size a map (before :meth:`load`)."""
        bpf.set_max_entries(self._handle(), map_name, entries, step)

    def load(self) -> None:
        bpf.load_object(self._handle())
        self.loaded = True

    def map_fd(self, name: str) -> int:
        """The fd of map ``name`` (looked up once)."""
        fd = self._map_fds.get(name)
        if fd is None:
            fd = self._map_fds[name] = bpf.object_map_fd(self._handle(), name)
        return fd

    def attach(
        self,
        required: Callable[[str], bool] = every_program,
        only: Collection[str] | None = None,
    ) -> None:
        """Attach every program (of ``only``, when given) not attached yet. A program that does
        not attach raises when ``required(name)``, else is listed in :attr:`skipped` (a kernel
        without that tracepoint still runs the rest)."""
        for name, prog in bpf.programs(self._handle()):
            if name in self._links or (only is not None and name not in only):
                continue
            fd = bpf.program_fd(prog)
            try:
                self._links[name] = bpf.attach_program(prog, name)
            except SensorError:
                if required(name):
                    raise
                self.skipped.append(name)
                continue  # loaded but idle: not one of ours to report
            self._program_fds[name] = fd
        if not self._links:
            raise SensorError(f"{self.path} holds no BPF program")

    def attached(self) -> list[str]:
        """Names of the programs attached now."""
        return list(self._links)

    def program_fds(self) -> dict[str, int]:
        """Attached program name → its fd (``/proc/self/fdinfo`` tells its kernel id)."""
        return dict(self._program_fds)

    def detach(self) -> list[str]:
        """Detach every program (they stay loaded until :meth:`close`); their names."""
        names = list(self._links)
        for name, link in self._links.items():
            if not bpf.destroy_link(link):
                log.warning("detaching BPF program %s failed", name)
        self._links.clear()
        self._program_fds.clear()
        return names

    def close(self) -> None:
        self.detach()
        if self._object is not None:
            bpf.close_object(self._object)
            self._object = None
        self.loaded = False
        self._map_fds.clear()
