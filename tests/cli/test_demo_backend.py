"""The demo's HTTP backend ends cleanly: no asyncio traceback when the demo stops while a
connection is still open (a cancelled handler made asyncio print one at loop shutdown)."""

import subprocess
import sys

SCRIPT = """
import asyncio
from vigil.cli.demo import _HttpBackend

async def main() -> None:
    backend = _HttpBackend()
    port = await backend.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.1)  # the handler waits for a request that never comes
    await backend.close()  # then the loop shuts down at once, as the demo's does
    print("closed")

asyncio.run(main())
"""


def test_closing_with_an_open_connection_prints_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "closed" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert "Exception in callback" not in done.stderr, done.stderr
