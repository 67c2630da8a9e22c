"""The response benchmark runs (a few rounds of its root-free part); figures are in bench/."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.fixtures import REPO

BENCH = REPO / "bench" / "response_latency.py"


def test_response_benchmark_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("response_latency", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "response_latency", bench)  # dataclasses look it up
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    assert bench.main(["--only", "delete", "--runs", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["delete_pod"]
    assert [result[p]["gets_before_delete"] for p in ("cold", "owner_known", "warm")] == [2, 1, 0]
    for path in ("cold", "owner_known", "warm"):
        sent, received = result[path]["request_sent"], result[path]["response_received"]
        assert sent["n"] == 3 and 0 < sent["p50_ms"] < received["p50_ms"]
    assert "pod-delete request sent after the event, warm" in capsys.readouterr().out
