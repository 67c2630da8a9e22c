"""The real agent (``vigil run``'s own run_agent) whose BPF programs the storm benchmarks detach
and re-attach between two batches: "without vigil" and "with vigil" a moment apart, so that the
machine's drift (minutes of neighbours' load on a shared VM) falls on both alike.

    python bench/toggled_agent.py DATA_DIR LISTEN CONFIG

SIGUSR1 detaches every program, SIGUSR2 attaches them again; each prints "off" or "on" on
stdout once done. Detached programs stay loaded and the maps keep what is in them (the kernel
filter, remembered execs, the process lineage of running processes), so re-attaching puts the
agent back where it was, and the agent process, its memory and its learnt profiles stay the same
throughout. The one difference: processes forked while detached have no lineage entry.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from vigil.bootstrap import RunOptions, ebpf_sensor, run_agent
from vigil.config import load_config
from vigil.sensor import Sensor
from vigil.sensor.bpf_object import BpfObject
from vigil.sensor.ebpf import EbpfSensor


class Toggle:
    """Detaches and re-attaches an EbpfSensor's programs (its BPF object's links)."""

    def __init__(self) -> None:
        self.sensor: EbpfSensor | None = None
        self.attached: list[str] = []

    def factory(self, options: RunOptions) -> Sensor:
        sensor = ebpf_sensor(options)
        if not isinstance(sensor, EbpfSensor):
            raise SystemExit("the storm benchmarks need the eBPF sensor (no fallback)")
        self.sensor = sensor
        return sensor

    def off(self) -> None:
        self.attached = self._started().detach()
        print("off", flush=True)

    def on(self) -> None:
        self._started().attach(only=self.attached)
        print("on", flush=True)

    def _started(self) -> BpfObject:
        if self.sensor is None or self.sensor.object is None:
            raise SystemExit("the sensor is not started")
        return self.sensor.object


async def main(data_dir: Path, listen: str, config: Path) -> None:
    toggle = Toggle()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, toggle.off)
    loop.add_signal_handler(signal.SIGUSR2, toggle.on)
    options = RunOptions(
        data_dir=data_dir,
        config=load_config(config),
        outputs=[f"jsonl:{data_dir / 'alerts.jsonl'}"],
        listen=listen,
    )
    await run_agent(options, sensor_factory=toggle.factory)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
