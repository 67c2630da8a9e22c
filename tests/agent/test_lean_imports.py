"""The agent's memory: what `vigil run` does not use is never imported (issue 3, RSS).

Each check runs `vigil run` through the CLI (Typer, configuration, `bootstrap.run_agent` with the
API served and its pages fetched) in a fresh interpreter, with an in-memory sensor, and reads
`sys.modules` at the end: a stray top-level import anywhere on that path makes it fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures import REPO

#: run by a fresh interpreter: `vigil run` through the CLI, with an in-memory sensor and no need
#: for root; the API is used while it runs, then the agent is stopped and the modules listed
AGENT_RUN = """
import asyncio, json, socket, sys, urllib.request
from pathlib import Path

from tests.fixtures.fakes import QueueSensor
from vigil import bootstrap
from vigil.cli.main import app

data_dir, config_file, paths = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
real_run_agent = bootstrap.run_agent


def fetch(path):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()


async def run_agent_and_use_it(options):
    stop = asyncio.Event()
    agent = asyncio.create_task(
        real_run_agent(options, sensor_factory=lambda _: QueueSensor(), stop=stop)
    )
    for _ in range(200):
        try:
            await asyncio.to_thread(fetch, "/api/v1/health")
            break
        except OSError:
            await asyncio.sleep(0.05)
    for path in paths:
        await asyncio.to_thread(fetch, path)
    stop.set()
    return await agent


bootstrap.run_agent = run_agent_and_use_it
bootstrap.require_root = lambda: None
args = ["run", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", "--output", "stdout"]
app([*args, *(["--config", config_file] if config_file else [])], standalone_mode=False)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

#: libraries only some commands or configurations need
NOT_FOR_THE_DEFAULT_RUN = {
    "lightkube": "Kubernetes client: only with a Kubernetes API configured",
    "httpx2": "lightkube's HTTP client",
    "httpx": "the CLI's API client",
    "rich": "the CLI's tables and colours",
    "pygments": "syntax highlighting (via rich/httpx's CLI)",
    "psycopg": "PostgreSQL driver: only with store.url postgresql://",
    "kmock": "test tool",
}
API_PATHS = ["/api/v1/health", "/api/v1/profiles", "/api/v1/alerts", "/metrics"]


def agent_modules(
    tmp_path: Path, *, kubeconfig: str = "", paths: tuple[str, ...] = tuple(API_PATHS)
) -> set[str]:
    config = ""
    if kubeconfig:
        config = str(tmp_path / "agent.yaml")
        Path(config).write_text(f"kubernetes:\n  kubeconfig: {kubeconfig}\n")
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")  # no ~/.kube/config of the machine
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", AGENT_RUN, str(data_dir), config, ",".join(paths)],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_default_run_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    modules = agent_modules(tmp_path)
    assert {"vigil", "fastapi", "sqlalchemy", "uvicorn"} <= modules  # it did run the agent
    stray = {name: why for name, why in NOT_FOR_THE_DEFAULT_RUN.items() if name in modules}
    assert not stray, f"imported by the default `vigil run`: {stray}"
    assert "jinja2" not in modules, "the UI's templates load before anyone opens the UI"
    assert "wsproto" not in modules and "websockets" not in modules  # no WebSocket routes


def test_the_ui_loads_its_templates_and_nothing_more(tmp_path: Path) -> None:
    modules = agent_modules(tmp_path, paths=("/", "/ui/incidents/rows", *API_PATHS))
    assert "jinja2" in modules
    stray = {name: why for name, why in NOT_FOR_THE_DEFAULT_RUN.items() if name in modules}
    assert not stray, f"imported once the UI is open: {stray}"


def test_kubernetes_configured_loads_the_client(tmp_path: Path) -> None:
    """The other side: a kubeconfig present (auto) is enough to bring the client in."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    assert {"lightkube", "httpx2"} <= agent_modules(tmp_path, kubeconfig=str(kubeconfig))
