"""The web UI in headless Chromium: log in, watch incidents arrive, read them, decide.

Approvals are the real ones: a playbook in ``approve`` mode holds a freeze, the approvals panel
lists it from ``/api/v1/actions`` and the Approve button runs it.
"""

import uuid
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright is not installed (scripts/install.sh --dev)")
from playwright.sync_api import expect

from tests.fixtures.api import serve_while, with_running_api
from tests.fixtures.browser import chromium_page
from tests.fixtures.fakes import FakeRecord, QueueSensor, exec_event, wait_until
from tests.fixtures.marks import e2e
from vigil.agent import Agent
from vigil.api.auth import load_or_create_token
from vigil.api.client import AgentClient
from vigil.api.server import create_app
from vigil.bootstrap import RunOptions, attach_incidents, build_agent, ebpf_sensor
from vigil.config import AgentConfig
from vigil.lab import RuncContainer, build_busybox_rootfs
from vigil.record.store import Store
from vigil.respond.settings import Playbook, PlaybookMatch

#: every deviation waits for a person to approve freezing its container
HOLD_FREEZE = Playbook(
    name="freeze-after-approval",
    match=PlaybookMatch(kinds=frozenset({"deviation"})),
    mode="approve",
    actions=("freeze",),
)

HOSTILE_EXE = "/tmp/<script>alert(1)</script>"
HOSTILE_CMDLINE = "<script>alert(2)</script> \x1b[31mred\x1b[0m " + "B" * 100_000


def only_the_agent(url: str, requests: list[str]) -> None:
    strangers = [r for r in requests if not r.startswith(url + "/")]
    assert requests and not strangers, strangers


def test_browser_login_live_incident_hostile_content_and_approval(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    freezer = tmp_path / "freezer"
    freezer.mkdir()
    (freezer / "freezer.state").write_text("THAWED\n")
    records = {"web-1": FakeRecord({"freezer": str(freezer)})}

    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        sensor.push(exec_event("/bin/sh"))
        wait_until(agent.profiles.all)
        agent.lock(None)
        with chromium_page(tmp_path / "chromium-profile") as seen:
            page = seen.page
            page.goto(url + "/")
            assert page.url == url + "/login"
            page.fill("#token", "not-it")
            page.click("#login")
            assert "not this agent" in page.inner_text("#login-error")
            page.fill("#token", token)
            page.click("#login")
            page.wait_for_url(url + "/")
            seen.console_errors.clear()  # the wrong token's 401 was one
            expect(page.locator("#incident-rows")).to_have_text("No incidents.")
            expect(page.locator("#pending")).to_contain_text("Nothing waits for approval.")

            # A deviation arrives while the page is open: the list shows it without a reload.
            sensor.push(exec_event(HOSTILE_EXE, cmdline=HOSTILE_CMDLINE))
            page.wait_for_selector("#incident-rows tr.incident")
            row = page.inner_text("#incident-rows tr.incident")
            assert "high" in row and "open" in row and "shop/Deployment/web/nginx" in row
            page.click("#incident-rows tr.incident a")

            # Hostile text is text: shown escaped and cut, never run.
            page.wait_for_selector("#timeline")
            cmdline = page.inner_text("#timeline code.cmdline")
            assert cmdline.startswith("<script>alert(2)</script> \\x1b[31mred\\x1b[0m BBB")
            assert "…(+" in cmdline and len(cmdline) < 600
            assert HOSTILE_EXE in page.inner_text(".tree")
            assert page.evaluate("document.scripts.length") == 1  # our vigil.js only
            assert seen.dialogs == []

            # What waits for approval, for this incident: approve it and see it done.
            page.wait_for_selector("#pending tbody tr")
            assert "freeze" in page.inner_text("#pending tbody tr")
            page.click("#pending button.approve")
            expect(page.locator("#pending .decided")).to_contain_text("approved: done — froze via")
            assert (freezer / "freezer.state").read_text().strip() == "FROZEN"

            # Acknowledge, then close as a false positive that teaches the profile.
            page.click("#ack")
            assert page.inner_text("#incident-state") == "acknowledged"
            page.check("input[name=remedy][value=profile]")
            page.click("#false-positive")
            assert page.inner_text("#incident-state") == "false_positive"
            assert "added to the profile" in page.inner_text(".decide")
            page.click(".where a")  # the workload's profile page
            assert HOSTILE_EXE in page.inner_text("#items-executables")
            assert "+ " + HOSTILE_EXE in page.inner_text("#diff")
            assert seen.dialogs == [] and seen.console_errors == []
            only_the_agent(url, seen.requests)
        assert HOSTILE_EXE in AgentClient(url, token=token).profiles()[0]["executables"]

    with_running_api(tmp_path, check, token=token, playbooks=[HOLD_FREEZE], records=records)


# -- end to end: the real agent with the real eBPF sensor and a real runc container ----------


@e2e
def test_browser_sees_a_real_incident_and_approves_a_real_freeze(tmp_path: Path) -> None:
    config = AgentConfig(learning_period=None, playbooks=(HOLD_FREEZE,))
    options = RunOptions(data_dir=tmp_path / "data", config=config)
    store = Store.open(options.data_dir)
    agent = build_agent(options, store, sensor=ebpf_sensor(options))
    incidents = attach_incidents(agent)
    app = create_app(agent, incidents=incidents)
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    name = f"vigil-ui-{uuid.uuid4().hex[:8]}"
    loop = "while true; do /bin/cat /etc/hostname >/dev/null; /bin/sleep 0.3; done"
    annotations = {
        "io.kubernetes.pod.namespace": "e2e-ui",
        "io.kubernetes.pod.name": "shop-5f7c9d8b6-x7k2p",
        "io.kubernetes.container.name": "shop",
    }
    workload = "e2e-ui/Deployment/shop/shop"

    def check(url: str) -> None:
        with RuncContainer(
            name, rootfs, tmp_path / "bundle", ["/bin/sh", "-c", loop], annotations=annotations
        ) as container:

            def learned() -> bool:
                profile = agent.profiles.get(workload)
                return profile is not None and {"/bin/cat", "/bin/sleep"} <= profile.executables

            wait_until(learned, timeout=30)
            agent.lock(workload)
            with chromium_page(tmp_path / "chromium-profile") as seen:
                page = seen.page
                page.goto(url + "/")
                expect(page.locator("#incident-rows")).to_have_text("No incidents.")
                container.spawn(["/bin/id"])  # the workload never ran it: a deviation
                page.wait_for_selector("#incident-rows tr.incident", timeout=30_000)
                assert workload in page.inner_text("#incident-rows tr.incident")
                page.click("#incident-rows tr.incident a")
                page.wait_for_selector("#timeline")
                assert name in page.inner_text(".where")
                assert "/bin/id" in page.inner_text(".tree")
                assert "profile.new_executable" in page.inner_text("#timeline")
                page.wait_for_selector("#pending tbody tr")
                assert name in page.inner_text("#pending tbody tr")
                page.click("#pending button.approve")
                expect(page.locator("#pending .decided")).to_contain_text(
                    "approved: done", timeout=30_000
                )
                assert container.wait_for_status("paused", 10.0), container.status()
                only_the_agent(url, seen.requests)

    try:
        serve_while(agent, app, check)
    finally:
        store.close()
