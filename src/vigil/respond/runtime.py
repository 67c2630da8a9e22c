"""Stop or kill a container through its OCI runtime's CLI (runc or crun, ``--root state_root``).

containerd, CRI-O, Docker and Podman run their containers with runc/crun under a root of their
own (``/run/containerd/runc/k8s.io``, ``/run/docker/runtime-runc/moby``, …), which identity
reports as ``state_root``; signalling through that root reaches the same container and the
engine sees it exit. Talking to the engines' own APIs (containerd gRPC, Docker/Podman REST) is
not implemented: nothing here runs those daemons to test against.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

from vigil.errors import RuntimeActionError, truncate
from vigil.respond.freeze import freezer_paths, set_frozen

#: runtime name (identity's ContainerRecord.runtime) → CLI; engines run runc underneath
RUNTIME_CLI = {
    "runc": "runc",
    "crun": "crun",
    "containerd": "runc",
    "cri-o": "runc",
    "docker": "runc",
    "podman": "runc",
}

Runner = Callable[[Sequence[str], float], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _status(state_json: str) -> str | None:
    try:
        return str(json.loads(state_json)["status"])
    except (ValueError, KeyError, TypeError):
        return None


class RuntimeControl:
    """``stop`` (SIGTERM, then SIGKILL after a grace period) and ``kill`` (SIGKILL)."""

    def __init__(self, *, runner: Runner = _run, clock: Callable[[], float] = time.monotonic):
        self._runner = runner
        self._clock = clock

    def _cli(self, runtime: str, state_root: str) -> list[str]:
        cli = RUNTIME_CLI.get(runtime)
        if cli is None:
            raise RuntimeActionError(f"no way to stop a {runtime or 'unknown'} container yet")
        if shutil.which(cli) is None:
            raise RuntimeActionError(f"{cli} is not installed on this host")
        return [cli, "--root", state_root] if state_root else [cli]

    def status(self, runtime: str, state_root: str, container_id: str) -> str | None:
        proc = self._runner([*self._cli(runtime, state_root), "state", container_id], 10.0)
        return _status(proc.stdout) if proc.returncode == 0 else None

    def _signal(self, cli: list[str], container_id: str, signame: str) -> None:
        proc = self._runner([*cli, "kill", "--all", container_id, signame], 10.0)
        if proc.returncode != 0:
            raise RuntimeActionError(
                f"{cli[0]} kill {container_id} {signame} failed: {truncate(proc.stderr, 160)}"
            )

    def _thaw_if_frozen(self, cgroup_paths: Mapping[str, str]) -> None:
        # A frozen task cannot act on SIGTERM, and under cgroup v1 not even die of SIGKILL.
        if any(freezer_paths(cgroup_paths)):
            set_frozen(cgroup_paths, False)

    def _wait_stopped(self, cli: list[str], container_id: str, timeout: float) -> bool:
        deadline = self._clock() + timeout
        while self._clock() < deadline:
            proc = self._runner([*cli, "state", container_id], 10.0)
            if proc.returncode != 0 or _status(proc.stdout) == "stopped":
                return True
            time.sleep(0.02)
        return False

    def stop(
        self,
        runtime: str,
        state_root: str,
        container_id: str,
        cgroup_paths: Mapping[str, str],
        *,
        grace: float = 3.0,
    ) -> str:
        cli = self._cli(runtime, state_root)
        self._signal(cli, container_id, "TERM")
        self._thaw_if_frozen(cgroup_paths)
        if self._wait_stopped(cli, container_id, grace):
            return f"{cli[0]} stopped {container_id} with SIGTERM"
        self._signal(cli, container_id, "KILL")
        if self._wait_stopped(cli, container_id, 2.0):
            return f"{cli[0]} killed {container_id} after {grace:g}s without stopping on SIGTERM"
        raise RuntimeActionError(f"{container_id} still runs after SIGTERM and SIGKILL")

    def kill(
        self, runtime: str, state_root: str, container_id: str, cgroup_paths: Mapping[str, str]
    ) -> str:
        cli = self._cli(runtime, state_root)
        self._signal(cli, container_id, "KILL")
        self._thaw_if_frozen(cgroup_paths)
        if self._wait_stopped(cli, container_id, 2.0):
            return f"{cli[0]} killed {container_id}"
        raise RuntimeActionError(f"{container_id} still runs after SIGKILL")
