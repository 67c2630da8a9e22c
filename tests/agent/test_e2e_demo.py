"""`vigil demo` end to end: it works, and leaves nothing behind, also when interrupted."""

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.fixtures.agents import VIGIL
from tests.fixtures.marks import E2E

pytestmark = E2E


def leftovers() -> tuple[list[str], list[str], list[str]]:
    """Demo containers, demo work dirs, and kernel filesystem mounts that exist now."""
    listed = subprocess.run(["runc", "list", "-q"], capture_output=True, text=True, check=False)
    containers = [c for c in listed.stdout.split() if c.startswith("vigil-demo-")]
    workdirs = [str(p) for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("vigil-demo-*")]
    mounts = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[2] in ("tracefs", "bpf")
    ]
    return containers, workdirs, mounts


def test_demo_alerts_freezes_one_replica_and_cleans_up() -> None:
    before = leftovers()
    started = time.monotonic()
    result = subprocess.run(
        [*VIGIL, "demo"], capture_output=True, text=True, timeout=120, check=False
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "profile.new_destination" in out
    assert "profile.new_executable" in out
    assert "freeze done" in out
    assert "vigil-demo-web-1 │ running" in out
    assert "vigil-demo-web-2 │ paused" in out
    assert elapsed < 120
    assert leftovers() == before


def test_interrupted_demo_still_cleans_up() -> None:
    before = leftovers()
    proc = subprocess.Popen(
        [*VIGIL, "demo"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "Learning what the workload does" in line:
            break
    running = subprocess.run(["runc", "list", "-q"], capture_output=True, text=True, check=False)
    assert "vigil-demo-web-2" in running.stdout, "".join(seen)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    assert "interrupted" in rest
    assert leftovers() == before
