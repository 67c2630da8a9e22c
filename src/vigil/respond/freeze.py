"""Freeze and thaw a container's processes with the cgroup freezer (v1 ``freezer.state`` or v2
``cgroup.freeze``), without going through the runtime, so it is fast and works for every runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from vigil.errors import RuntimeActionError

_V1_CONTROLLER = "freezer"
_V2_KEY = ""  # runc's state.json names the unified hierarchy ""


def freezer_paths(cgroup_paths: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    """The container's v1 freezer dir and cgroup2 dir, where they exist."""
    v1 = cgroup_paths.get(_V1_CONTROLLER)
    v2 = cgroup_paths.get(_V2_KEY)
    v1_path = Path(v1) if v1 and (Path(v1) / "freezer.state").exists() else None
    v2_path = Path(v2) if v2 and (Path(v2) / "cgroup.freeze").exists() else None
    return v1_path, v2_path


def _v2_frozen(path: Path) -> bool:
    for line in (path / "cgroup.events").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "frozen":
            return value.strip() == "1"
    return False


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeActionError(f"{what} did not complete within {timeout:.1f}s")
        time.sleep(0.001)


def set_frozen(cgroup_paths: Mapping[str, str], frozen: bool, timeout: float = 2.0) -> str:
    """Freeze (or thaw) the cgroup and wait until the kernel says it is done.

    The v1 freezer is preferred where it exists, because that is what runtimes on such hosts
    report (``runc state`` says ``paused``); otherwise cgroup v2's ``cgroup.freeze``.
    Returns the path written.
    """
    v1, v2 = freezer_paths(cgroup_paths)
    try:
        if v1 is not None:
            state_file = v1 / "freezer.state"
            wanted = "FROZEN" if frozen else "THAWED"
            state_file.write_text(wanted)
            _wait(lambda: state_file.read_text().strip() == wanted, timeout, f"{wanted} {v1}")
            return str(state_file)
        if v2 is not None:
            (v2 / "cgroup.freeze").write_text("1" if frozen else "0")
            _wait(lambda: _v2_frozen(v2) == frozen, timeout, f"freeze={int(frozen)} {v2}")
            return str(v2 / "cgroup.freeze")
    except OSError as exc:
        raise RuntimeActionError(f"cannot write the cgroup freezer: {exc.strerror}") from None
    raise RuntimeActionError("the container has no freezer cgroup (neither v1 nor v2) to write")
