"""`vigil run` as a user starts it, for the end-to-end tests: a real process on the real kernel."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import pytest

from vigil.api.client import AgentClient
from vigil.errors import ApiError

VIGIL = [sys.executable, "-m", "vigil"]
T = TypeVar("T")

#: the marks of a test module that runs the agent on the real kernel and real runc containers
E2E = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for eBPF and runc"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("runc", "clang", "bpftool")),
        reason="needs runc, clang and bpftool (scripts/install.sh)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll until ``condition`` gives a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def attached(api: str) -> bool:
    """The agent's sensor is attached (its health says ok, not merely that it answers)."""
    try:
        return bool(AgentClient(api).health()["status"] == "ok")
    except ApiError:
        return False


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIGIL, *args], capture_output=True, text=True, timeout=30, check=False)


class RunningAgent:
    """`vigil run` with ``config`` and its data, alerts (jsonl) and log below ``tmp``; as a
    context manager started and, at the end, stopped with Ctrl-C (SIGINT)."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.tmp = tmp
        self.api = f"http://127.0.0.1:{free_port()}"
        self.alerts = tmp / "alerts.jsonl"
        self.log = tmp / "agent.log"
        self.config = tmp / "agent.yaml"
        self.config.write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [*VIGIL, "run", "--config", str(self.config),
                 "--data-dir", str(self.tmp / "data"), "--output", f"jsonl:{self.alerts}",
                 "--listen", self.api.removeprefix("http://")],
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        proc = self.proc
        wait_for(lambda: proc.poll() is not None or attached(self.api), "the agent to attach")
        assert proc.poll() is None, self.log.read_text()

    def stop(self) -> int | None:
        """Ctrl-C, as a user stops it; its exit code (None when it was not running), or -9
        when it had to be killed after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def alert_list(self) -> list[dict[str, Any]]:
        if not self.alerts.exists():
            return []
        return [json.loads(line) for line in self.alerts.read_text().splitlines() if line]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
