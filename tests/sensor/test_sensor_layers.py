"""vigil.sensor.layers: whether an executable lies on the container's writable layer."""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.fixtures.sensor import ev
from vigil.models import EventType
from vigil.sensor.layers import OVERLAYFS_MAGIC, WritableLayers
from vigil.sensor.process_tree import ProcessTree


def test_writable_layer_asks_only_live_processes_inside_the_container(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "bin").mkdir(parents=True)
    (upper / "bin" / "dropped").write_text("x")
    container_mounts = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        f"2 1 0:50 / / rw - overlay overlay rw,lowerdir=/l,upperdir={upper},workdir=/w\n"
    )
    proc = tmp_path / "proc"
    for pid, mountinfo in ((300, container_mounts), (401, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "mountinfo").write_text(mountinfo)
    tree = ProcessTree(proc_root=proc)
    tree.observe(ev(EventType.EXEC, 300, 1, 5, exe="/bin/sleep", cgroup=9))
    # 401 is alive but on the host (the `runc exec` that started the exec's process)
    cgroups = {300: 9, 401: 1}
    layers = WritableLayers(proc, cgroup_of=lambda pid: cgroups.get(pid, -1))
    # the exec's own process (400) exited before the record was read; its parent is 401
    pids = itertools.chain((400, 401), tree.pids_in_cgroup(9))
    assert layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/dropped", 9, pids)
    assert not layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/sleep", 9, ())  # cached: lower
    assert not layers.on_writable_layer(0xEF53, "/bin/dropped", 9, ())  # not an overlay
    # a container none of whose processes is inside any more is not remembered as overlay-less
    assert not layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/dropped", 7, (401,))
    cgroups[300] = 7
    assert layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/dropped", 7, (401, 300))
