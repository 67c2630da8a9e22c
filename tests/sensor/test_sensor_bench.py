"""bench/sensor_bench.py starts and explains itself (the benchmarks themselves need root)."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures import REPO


def test_benchmark_script_runs() -> None:
    bench = REPO / "bench" / "sensor_bench.py"
    shown = subprocess.run(
        [sys.executable, str(bench), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0 and "exec,connect,cpu,burst,rss,all" in shown.stdout
