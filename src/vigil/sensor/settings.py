"""The sensor's settings: BTF, ring buffer size, fallback, and the paths the kernel watches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, model_validator

from vigil.setting_types import SETTINGS, StrList

SENSOR_FALLBACKS = (None, "proc-connector")
DEFAULT_BTF = Path("/sys/kernel/btf/vmlinux")
DEFAULT_RINGBUF_BYTES = 2 << 20


def _ringbuf_bytes(value: Any) -> int:
    if not isinstance(value, int) or value < 4096 or value & (value - 1):
        raise ValueError("must be a power of two ≥ 4096")
    return value


def _fallback(value: Any) -> Any:
    if value not in SENSOR_FALLBACKS:
        raise ValueError(f"must be one of {', '.join(map(str, SENSOR_FALLBACKS))}")
    return value


class WatchSection(BaseModel):
    """``sensor.watch: {read: [...], write: [...]}``: the path prefixes the kernel reports;
    ``None`` keeps the defaults."""

    model_config = SETTINGS

    read: StrList | None = None
    write: StrList | None = None

    @model_validator(mode="after")
    def _fits_the_kernel(self) -> WatchSection:
        from vigil.sensor.watch import WatchedPaths

        problem = WatchedPaths.check(self.read or (), self.write or ())
        if problem:
            raise ValueError(f": {problem}")
        return self


class SensorSection(BaseModel):
    model_config = SETTINGS

    btf: Annotated[Path, BeforeValidator(str)] = DEFAULT_BTF
    ringbuf_bytes: Annotated[int, BeforeValidator(_ringbuf_bytes)] = DEFAULT_RINGBUF_BYTES
    fallback: Annotated[str | None, BeforeValidator(_fallback)] = None
    watch: WatchSection = WatchSection()
