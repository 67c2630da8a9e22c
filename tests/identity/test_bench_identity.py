"""The identity benchmark script runs (tiny sizes; the figures live in bench/results/)."""

import subprocess
import sys

from tests.fixtures import REPO

BENCH = REPO / "bench" / "identity_resolve.py"


def test_identity_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--containers", "5", "--events", "200", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "cached" in result.stdout
    assert "µs/event" in result.stdout
