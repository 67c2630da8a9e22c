"""kmock as a separate process, for benchmarks that must not count the emulator as their own.

In the measured process (even on another thread: the GIL) kmock's request handling would run
between the client's steps and be counted as the client's latency; a real API server is
elsewhere. Protocol: one JSON object per line. The server first writes ``{"url": ...}``; then
for each command on stdin it answers one line:

- ``{"op": "put", "key": [resource, namespace, name], "object": {...}}`` → ``{"ok": true}``
- ``{"op": "arrivals"}`` → ``{"delete": [monotonic ns, ...]}``: when DELETE requests reached it
  (CLOCK_MONOTONIC is one clock for every process on the machine)
- ``{"op": "forget"}`` → ``{"forgot": n}``: drops the requests kmock logged so far. kmock
  matches each request against its whole log (its cost grows from ~5 ms to ~75 ms per request
  over 600 requests here); a real API server keeps no such log. kmock has no public way to
  do this, so its private lists are cleared (this helper is only for benchmarks).

It stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from kmock import KubernetesEmulator, Server, action


class TimedEmulator(KubernetesEmulator):
    delete_arrivals: list[int]

    async def _handle(self, request: Any) -> Any:
        if request.action == action.DELETE:
            self.delete_arrivals.append(time.monotonic_ns())
        return await super()._handle(request)


def answer(kmock: TimedEmulator, command: dict[str, Any]) -> dict[str, Any]:
    if command["op"] == "put":
        resource, namespace, name = command["key"]
        kmock.objects[resource, namespace, name] = command["object"]
        return {"ok": True}
    if command["op"] == "arrivals":
        return {"delete": kmock.delete_arrivals}
    if command["op"] == "forget":
        logs = [kmock._requests, *(p._requests for p in kmock._payloads)]
        forgot = sum(len(log) for log in logs)
        for log in logs:
            log.clear()
        return {"forgot": forgot}
    return {"error": f"unknown op {command['op']!r}"}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with TimedEmulator() as kmock, Server(kmock) as server:
        kmock.delete_arrivals = []
        print(json.dumps({"url": str(server.url)}), flush=True)
        while line := await reader.readline():
            print(json.dumps(answer(kmock, json.loads(line))), flush=True)


if __name__ == "__main__":
    asyncio.run(serve())
