"""Replays recorded events (JSON lines, as `vigil record` writes them) through the pipeline.

A recording is read like the Falco and Tetragon streams (vigil.sensor.adapters): line by line,
each line bounded, a malformed one counted and skipped, never fatal; here each line is already
vigil's own event JSON.
"""

from __future__ import annotations

from vigil.models import event_from_json
from vigil.sensor.adapters import JsonStreamSensor


def replay_sensor(path: str) -> JsonStreamSensor:
    """The events recorded in ``path`` (``-`` = stdin)."""
    return JsonStreamSensor("replay", path, event_from_json)
