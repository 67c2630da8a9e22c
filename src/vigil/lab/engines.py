"""Real container engines for end-to-end tests and benchmarks: containerd (driven through
``ctr`` as Kubernetes' CRI plugin would drive it), the Docker engine and Podman.

Each engine keeps its containers' state where a node keeps it (``/run/containerd/runc/<ns>``,
``/run/docker/runtime-runc/moby``, ``/run/runc``), because that is where the agent looks. Daemons
are started only when none answers already, as plain background processes (no systemd needed),
and only those started here are stopped again. Images come from a local rootfs (``import``);
nothing is ever pulled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vigil.errors import VigilError
from vigil.lab.image import oci_archive, rootfs_tar

#: runc's state root under containerd's runc shim (fixed by the shim, whatever containerd's --state)
CONTAINERD_RUNC_ROOT = "/run/containerd/runc"
CGROUP_FS = Path("/sys/fs/cgroup")
DOCKER_SOCKET = "/var/run/docker.sock"
#: what a container runs when the caller does not care: long enough for a test, short if leaked
IDLE = ("sleep", "600")


@dataclass(frozen=True, slots=True)
class PodRef:
    """The Kubernetes pod a containerd container pretends to belong to (CRI annotations)."""

    namespace: str
    name: str
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    qos: str = "besteffort"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What a container runs: ``args``; ``pod`` only where the engine runs pods (CRI); ``labels``
    as the engine's own container labels (compose sets them)."""

    args: Sequence[str] = IDLE
    pod: PodRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LabContainer:
    """A container an engine started: what identity must report for it."""

    id: str
    name: str
    image: str
    pid: int
    #: its cgroup path relative to the hierarchy root (``/kubepods/…/<id>``, ``/docker/<id>``)
    cgroup_path: str


class Engine(Protocol):
    """One container engine: its daemon (if any), images, and containers."""

    #: the engine's name, and what identity should call the container's runtime
    name: str
    runtime: str

    def missing(self) -> str:
        """What this machine lacks to run the engine ("" when nothing)."""
        ...

    def start(self, workdir: Path) -> None: ...

    def stop(self) -> None: ...

    def import_image(self, rootfs: Path, reference: str) -> None: ...

    def run(self, name: str, image: str, spec: RunSpec = RunSpec()) -> LabContainer:
        """Start a container named ``name`` from ``image`` as ``spec`` says."""
        ...

    def exec(self, container_id: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]: ...

    def remove(self, container_id: str) -> None: ...


def run_tool(argv: Sequence[str], *, timeout: float = 60.0) -> str:
    """Run an engine's CLI; its stdout, or a VigilError with the end of its stderr."""
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        raise VigilError(f"{' '.join(argv[:3])} … failed: {proc.stderr.strip()[-400:]}")
    return proc.stdout.strip()


def pid_cgroup_path(pid: int) -> str:
    """The cgroup path of ``pid`` (the unified entry, else the first named v1 hierarchy)."""
    with open(f"/proc/{pid}/cgroup") as handle:
        lines = [line.rstrip("\n").split(":", 2) for line in handle]
    paths = {controllers: path for _, controllers, path in lines}
    unified = paths.get("", "/")
    return unified if unified != "/" else paths.get("name=systemd", paths.get("pids", "/"))


def cgroup_dirs(path: str) -> list[Path]:
    """``path`` (relative to the hierarchies) in every cgroup hierarchy where it exists."""
    hierarchies = [CGROUP_FS, *CGROUP_FS.iterdir()]  # v2 alone, or one directory per hierarchy
    return [h / path.lstrip("/") for h in hierarchies if (h / path.lstrip("/")).is_dir()]


def remove_cgroup_dirs(*paths: str) -> None:
    """rmdir ``paths`` in every hierarchy; a cgroup still in use is left alone (rmdir fails)."""
    for path in filter(None, paths):
        for directory in cgroup_dirs(path):
            with contextlib.suppress(OSError):
                directory.rmdir()


def option_pairs(option: str, values: Mapping[str, str]) -> list[str]:
    """``--label a=1 --label b=2`` from a mapping."""
    return [arg for kv in values.items() for arg in (option, "=".join(kv))]


def missing_tools(*tools: str) -> str:
    absent = [tool for tool in tools if shutil.which(tool) is None]
    return f"missing {', '.join(absent)} (scripts/install.sh --dev)" if absent else ""


class Daemon:
    """An engine daemon listening on ``socket``: reused when ``probe`` already succeeds there,
    else started in the background (its log in ``log``) and stopped by :meth:`stop`."""

    def __init__(self, argv: Sequence[str], socket: str, probe: Sequence[str], log: Path) -> None:
        self.argv = list(argv)
        self.socket = socket
        self.probe = list(probe)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        if not os.path.exists(self.socket):
            return False  # clients wait long for a socket that is not there
        done = subprocess.run(self.probe, capture_output=True, timeout=30, check=False)
        return done.returncode == 0

    def start(self, timeout: float = 60.0) -> None:
        if self.answers():
            return
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-600:]
                raise VigilError(f"{self.argv[0]} did not start: {tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ContainerdEngine:
    """containerd with its runc shim, namespace ``k8s.io``, containers made as the CRI plugin
    makes them: 64-hex ids, ``cgroupsPath`` ``/kubepods/<qos>/pod<uid>/<id>`` and the
    ``io.kubernetes.cri.*`` annotations. ``runc_binary`` may name crun instead of runc."""

    name = "containerd"
    runtime = "containerd"

    def __init__(self, runc_binary: str = "runc", namespace: str = "k8s.io") -> None:
        self.runc_binary = runc_binary
        self.namespace = namespace
        self.address = ""
        self.daemon: Daemon | None = None
        #: cgroup parents this engine made (pod directories; /kubepods if it was not there)
        self._cgroup_parents: dict[str, str] = {}
        self._made_kubepods: list[str] = []

    def missing(self) -> str:
        return missing_tools("containerd", "ctr", "containerd-shim-runc-v2", self.runc_binary)

    def start(self, workdir: Path) -> None:
        """A containerd of our own (socket, root and state in ``workdir``; CRI plugin off)."""
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "containerd.toml"
        config.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        self.address = str(workdir / "containerd.sock")
        self.daemon = Daemon(
            ["containerd", "--config", str(config), "--address", self.address,
             "--root", str(workdir / "root"), "--state", str(workdir / "state")],
            self.address,
            ["ctr", "--address", self.address, "version"],
            workdir / "containerd.log",
        )  # fmt: skip
        self.daemon.start()
        kubepods = ["/kubepods", "/kubepods/besteffort", "/kubepods/burstable"]
        self._made_kubepods = [p for p in kubepods if not cgroup_dirs(p)]

    def stop(self) -> None:
        if self.daemon is not None:
            for task in self._ctr("containers", "list", "--quiet").split():
                self.remove(task)
            self.daemon.stop()
        remove_cgroup_dirs(*reversed(self._made_kubepods))

    def import_image(self, rootfs: Path, reference: str) -> None:
        archive = oci_archive(rootfs, reference, rootfs.parent / "containerd-image.tar")
        self._ctr("images", "import", str(archive))

    def run(self, name: str, image: str, spec: RunSpec = RunSpec()) -> LabContainer:
        pod = spec.pod or PodRef("default", f"{name}-pod")
        container_id = uuid.uuid4().hex + uuid.uuid4().hex
        cgroup = f"/kubepods/{pod.qos}/pod{pod.uid}/{container_id}"
        annotations = cri_annotations(pod, name, image)
        self._cgroup_parents[container_id] = cgroup.rpartition("/")[0]  # even if run fails
        flags = option_pairs("--annotation", annotations) + option_pairs("--label", spec.labels)
        self._ctr(
            "run", "--detach", "--runc-binary", self.runc_binary, "--cgroup", cgroup,
            "--net-host", *flags, image, container_id, *spec.args,
        )  # fmt: skip
        pid = int(self._ctr("task", "ls").split(container_id, 1)[1].split()[0])
        return LabContainer(container_id, name, image, pid, cgroup)

    def exec(self, container_id: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        exec_id = f"exec-{uuid.uuid4().hex[:8]}"
        argv = self._argv("task", "exec", "--exec-id", exec_id, container_id, *args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def remove(self, container_id: str) -> None:
        self._ctr("task", "kill", "--signal", "KILL", container_id, check=False)
        for _ in range(50):
            if "STOPPED" in self._ctr("task", "ls", check=False) or not self._ctr(
                "task", "ls", "--quiet", check=False
            ).count(container_id):
                break
            time.sleep(0.1)
        self._ctr("task", "delete", "--force", container_id, check=False)
        self._ctr("containers", "delete", container_id, check=False)
        # runc removes the container's cgroup; the kubelet would remove the pod's
        remove_cgroup_dirs(self._cgroup_parents.pop(container_id, ""))

    def _argv(self, *args: str) -> list[str]:
        return ["ctr", "--address", self.address, "--namespace", self.namespace, *args]

    def _ctr(self, *args: str, check: bool = True) -> str:
        if check:
            return run_tool(self._argv(*args))
        done = subprocess.run(self._argv(*args), capture_output=True, text=True, check=False)
        return done.stdout


def cri_annotations(pod: PodRef, container: str, image: str) -> dict[str, str]:
    """The OCI annotations containerd's CRI plugin puts on an application container."""
    return {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": container,
        "io.kubernetes.cri.image-name": image,
        "io.kubernetes.cri.sandbox-id": uuid.uuid5(uuid.NAMESPACE_OID, pod.uid).hex * 2,
        "io.kubernetes.cri.sandbox-name": pod.name,
        "io.kubernetes.cri.sandbox-namespace": pod.namespace,
        "io.kubernetes.cri.sandbox-uid": pod.uid,
    }


class CliEngine:
    """An engine driven by a Docker-compatible CLI (``docker``, ``podman``)."""

    name = ""
    runtime = ""
    tool: tuple[str, ...] = ()
    run_flags: tuple[str, ...] = ()
    rm_flags: tuple[str, ...] = ()

    def missing(self) -> str:
        return missing_tools(self.tool[0])

    def start(self, workdir: Path) -> None:
        """Nothing to start by default (Podman has no daemon)."""

    def stop(self) -> None:
        """Nothing to stop by default."""

    def import_image(self, rootfs: Path, reference: str) -> None:
        archive = rootfs_tar(rootfs, rootfs.parent / f"{self.name}-rootfs.tar")
        run_tool([*self.tool, "import", str(archive), reference], timeout=120)

    def run(self, name: str, image: str, spec: RunSpec = RunSpec()) -> LabContainer:
        argv = [*self.tool, "run", "--detach", "--name", name, "--network", "host"]
        argv += option_pairs("--label", spec.labels)
        try:
            container_id = run_tool([*argv, *self.run_flags, image, *spec.args]).splitlines()[-1]
        except VigilError:
            self.remove(name)  # created but not started: it would keep the name
            raise
        pid = int(run_tool([*self.tool, "inspect", "--format", "{{.State.Pid}}", container_id]))
        return LabContainer(container_id, name, image, pid, pid_cgroup_path(pid))

    def exec(self, container_id: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = [*self.tool, "exec", container_id, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def remove(self, container_id: str) -> None:
        argv = [*self.tool, "rm", "--force", *self.rm_flags, container_id]
        subprocess.run(argv, capture_output=True, timeout=60, check=False)


class DockerEngine(CliEngine):
    """The Docker engine at its usual paths (``/var/lib/docker``, ``/run/docker``), which is
    where the agent reads it; a dockerd is started only when none answers on its socket, with
    no bridge or iptables changes (containers use the host's network)."""

    name = "docker"
    runtime = "docker"
    tool = ("docker", "--host", f"unix://{DOCKER_SOCKET}")

    def __init__(self) -> None:
        self.daemon: Daemon | None = None

    def missing(self) -> str:
        return missing_tools("dockerd", "docker")

    def start(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.daemon = Daemon(
            ["dockerd", "--host", f"unix://{DOCKER_SOCKET}", "--bridge", "none",
             "--iptables=false", "--ip6tables=false", "--exec-opt", "native.cgroupdriver=cgroupfs"],
            DOCKER_SOCKET,
            [*self.tool, "version"],
            workdir / "dockerd.log",
        )  # fmt: skip
        self.daemon.start()

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()


class PodmanEngine(CliEngine):
    """Podman (no daemon) with the cgroupfs manager and ``oci_runtime`` (runc or crun)."""

    name = "podman"
    runtime = "podman"

    def __init__(self, oci_runtime: str = "runc") -> None:
        self.oci_runtime = oci_runtime
        self.tool = ("podman", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                     "--runtime", oci_runtime)  # fmt: skip
        # Podman asks for nofile and nproc limits beyond what a sandboxed root may set
        self.run_flags = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
        self.rm_flags = ("--time", "0")  # no grace period: a sleeping PID 1 ignores SIGTERM

    def missing(self) -> str:
        return missing_tools("podman", "conmon", self.oci_runtime)


def all_engines() -> list[Engine]:
    return [ContainerdEngine(), DockerEngine(), PodmanEngine()]
