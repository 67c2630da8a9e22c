"""vigil.sensor.watch: watched paths and the fallback, from the configuration."""

from __future__ import annotations

import pytest

from vigil.config import parse_config
from vigil.errors import ConfigError
from vigil.sensor.watch import DEFAULT_READ, WatchedPaths


def test_watched_paths_config() -> None:
    cfg = parse_config("sensor:\n  fallback: proc-connector\n  watch:\n    write: [/opt/app/]\n")
    assert cfg.sensor_fallback == "proc-connector"
    watch = WatchedPaths.configured(cfg.watch_read, cfg.watch_write)
    assert watch.write == ("/opt/app/",) and watch.read == DEFAULT_READ
    with pytest.raises(ConfigError, match=r"cfg\.yaml:3:5: sensor\.watch: watched path 'etc' must"):
        parse_config("sensor:\n  watch:\n    read:\n    - etc\n", "cfg.yaml")
    with pytest.raises(ConfigError, match=r"sensor\.fallback must be one of"):
        parse_config("sensor:\n  fallback: kprobes\n")
