"""Where alerts go besides the store: stdout and JSON-lines files, named by spec."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TextIO

from vigil.errors import ConfigError, VigilError, truncate
from vigil.models import Alert
from vigil.record.settings import output_spec_problem


class Output(Protocol):
    name: str

    def emit(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


def _line(alert: Alert) -> str:
    return json.dumps(alert.to_json(), ensure_ascii=True, sort_keys=False) + "\n"


class StreamOutput:
    """One JSON object per line on a text stream (stdout by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.name = "stdout"
        self._stream = stream

    def emit(self, alert: Alert) -> None:
        stream = self._stream or sys.stdout
        stream.write(_line(alert))
        stream.flush()

    def close(self) -> None:
        pass


class JsonlFileOutput:
    """Appends one alert per line to a file, flushed per alert so nothing waits in a buffer."""

    def __init__(self, path: Path) -> None:
        self.name = f"jsonl:{path}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise VigilError(
                f"cannot open output file {path}: {exc.strerror}",
                hint="choose a writable path for --output jsonl:PATH",
            ) from None

    def emit(self, alert: Alert) -> None:
        self._file.write(_line(alert))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


_FACTORIES: dict[str, Callable[[str], Output]] = {
    "stdout": lambda _target: StreamOutput(),
    "jsonl": lambda target: JsonlFileOutput(Path(target)),
}


def open_outputs(specs: Sequence[str]) -> list[Output]:
    """Build outputs from specs such as ``stdout`` or ``jsonl:/var/log/vigil/alerts.jsonl``."""
    outputs: list[Output] = []
    for spec in specs:
        problem = output_spec_problem(spec)
        if problem:
            raise ConfigError(problem)
        scheme, _, target = spec.partition(":")
        try:
            outputs.append(_FACTORIES[scheme](target))
        except VigilError:
            for opened in outputs:
                opened.close()
            raise
    return outputs


def emit_all(outputs: Sequence[Output], alert: Alert, on_error: Callable[[str], None]) -> None:
    """Send ``alert`` to every output; one failing output never stops the others."""
    for output in outputs:
        try:
            output.emit(alert)
        except (OSError, ValueError) as exc:
            on_error(f"output {output.name} failed: {truncate(exc, 120)}")
