"""Incidents, alerts, OpenAPI, login and the UI pages over real HTTP (uvicorn on loopback)."""

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.fixtures.api import with_running_api
from tests.fixtures.fakes import QueueSensor, connect_event, exec_event, wait_until
from vigil.agent import Agent
from vigil.api.auth import TOKEN_COOKIE, load_or_create_token
from vigil.api.client import AgentClient
from vigil.cli.main import app as cli_app

HOSTILE_CMDLINE = "<script>alert(1)</script> \x1b[31mred\x1b[0m \x1b]0;title\x07 " + "A" * 100_000


def learn_then_deviate(agent: Agent, sensor: QueueSensor, *events: object) -> None:
    sensor.push(exec_event("/bin/sh"))
    wait_until(agent.profiles.all)
    agent.lock(None)
    before = agent.alerts_emitted
    for event in events:
        sensor.push(event)  # type: ignore[arg-type]
    wait_until(lambda: agent.alerts_emitted >= before + len(events))


def test_incidents_through_the_api_and_the_cli(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        learn_then_deviate(
            agent,
            sensor,
            exec_event("/bin/nc", pid=4300, cmdline="nc -l 4444"),
            connect_event("10.0.0.9", 443),
        )
        client = AgentClient(url)
        (listed,) = client.incidents()
        assert listed["alert_count"] == 2 and listed["severity"] == "high"
        incident = client.incident(listed["id"])
        assert {a["rule"] for a in incident["alerts"]} == {
            "profile.new_executable",
            "profile.new_destination",
        }
        assert [e["kind"] for e in incident["timeline"]] == ["opened", "alert", "alert"]
        (root,) = incident["process_tree"]  # both children of pid 1
        assert root["pid"] == 1 and root["inferred"]
        assert {c["exe"] for c in root["children"]} == {"/bin/nc", "/bin/wget"}

        runner = CliRunner()
        shown = runner.invoke(cli_app, ["incidents", "list", "--api", url])
        assert shown.exit_code == 0 and listed["id"] in shown.stdout
        shown = runner.invoke(cli_app, ["incidents", "show", listed["id"], "--api", url])
        assert shown.exit_code == 0, shown.stdout
        assert "nc -l 4444" in shown.stdout and "tcp/10.0.0.9:443" in shown.stdout
        acked = runner.invoke(cli_app, ["incidents", "ack", listed["id"], "--api", url])
        assert acked.exit_code == 0 and "is acknowledged" in acked.stdout
        again = runner.invoke(cli_app, ["incidents", "ack", listed["id"], "--api", url])
        assert again.exit_code == 1 and "cannot become acknowledged" in again.stderr
        bad = runner.invoke(
            cli_app, ["incidents", "resolve", listed["id"], "--add-to-profile", "--api", url]
        )
        assert bad.exit_code == 2 and "goes with --false-positive" in bad.stderr
        closed = runner.invoke(
            cli_app,
            [
                "incidents",
                "resolve",
                listed["id"],
                "--false-positive",
                "--add-to-profile",
                "--note",
                "backup job",
                "--api",
                url,
            ],
        )
        assert closed.exit_code == 0, closed.stderr
        assert "is false_positive" in closed.stdout
        assert "/bin/nc: added to the profile" in closed.stdout
        profile = client.profiles()[0]
        assert "/bin/nc" in profile["executables"]
        assert "tcp/10.0.0.9:443" in profile["destinations"]
        assert client.incidents(states=["open", "acknowledged"]) == []
        closed_listed = runner.invoke(
            cli_app, ["incidents", "list", "--all", "--json", "--api", url]
        )
        (final,) = json.loads(closed_listed.stdout)
        assert final["resolution"]["actor"].startswith("cli")
        assert final["resolution"]["note"] == "backup job"
        missing = httpx.get(f"{url}/api/v1/incidents/nope")
        assert missing.status_code == 404

    with_running_api(tmp_path, check)


def test_alerts_filter_and_paginate_over_http(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        learn_then_deviate(
            agent,
            sensor,
            *[exec_event(f"/bin/x{n}") for n in range(5)],
            connect_event("10.0.0.1", 80),
        )
        seen, cursor = [], None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            response = httpx.get(f"{url}/api/v1/alerts", params=params)
            assert response.status_code == 200
            seen += [a["id"] for a in response.json()]
            cursor = response.headers.get("x-next-cursor")
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 6
        medium = AgentClient(url).alerts(severity=["medium"])
        assert [a["event_type"] for a in medium] == ["connect"]
        assert len(AgentClient(url).alerts(kind="deviation", rule="profile.new_executable")) == 5
        bad = httpx.get(f"{url}/api/v1/alerts", params={"since": "yesterday"})
        assert bad.status_code == 422 and "RFC 3339" in bad.text
        assert httpx.get(f"{url}/api/v1/alerts", params={"severity": "loud"}).status_code == 422

    with_running_api(tmp_path, check)


def test_openapi_document_and_no_pages_from_elsewhere(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        document = httpx.get(f"{url}/api/v1/openapi.json").json()
        paths = set(document["paths"])
        assert {
            "/api/v1/health",
            "/api/v1/alerts",
            "/api/v1/incidents",
            "/api/v1/incidents/{incident_id}",
            "/api/v1/incidents/{incident_id}/ack",
            "/api/v1/incidents/{incident_id}/resolve",
            "/api/v1/profiles",
            "/api/v1/profiles/lock",
            "/api/v1/profiles/diff",
        } <= paths
        assert not any(p.startswith("/ui") for p in paths)
        # The docs pages would load scripts from a CDN: not served.
        assert httpx.get(f"{url}/api/v1/docs").status_code == 404
        health = httpx.get(f"{url}/api/v1/health").json()
        assert health["store"] == {"backend": "sqlite", "schema_version": 2}

    with_running_api(tmp_path, check)


def test_token_login_cookie_and_cross_site_refusal(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)

    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        with httpx.Client(base_url=url) as browser:
            assert browser.get("/").status_code == 303  # to the login page
            assert browser.get("/ui/incidents/rows").headers["location"] == "/login"
            assert browser.get("/static/vigil.js").status_code == 303
            assert browser.get("/api/v1/incidents").status_code == 401
            assert browser.get("/login").status_code == 200
            wrong = browser.post("/login", data={"token": "guess"})
            assert wrong.status_code == 401 and "not this agent" in wrong.text
            right = browser.post("/login", data={"token": token})
            assert right.status_code == 303
            cookie = right.headers["set-cookie"]
            assert f"{TOKEN_COOKIE}=" in cookie and "HttpOnly" in cookie
            assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
            page = browser.get("/")
            assert page.status_code == 200 and "Incidents" in page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert browser.get("/api/v1/incidents").json() == []
            evil = browser.post(
                "/logout", headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
            )
            assert evil.status_code == 403
        # The CLI's bearer header still works, with no cookie.
        assert AgentClient(url, token=token).incidents() == []

    with_running_api(tmp_path, check, token=token)


def test_hostile_content_is_escaped_and_truncated(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> tuple[str, str, dict[str, object]]:
        learn_then_deviate(
            agent, sensor, exec_event("/tmp/<img src=x onerror=alert(2)>", cmdline=HOSTILE_CMDLINE)
        )
        (incident,) = AgentClient(url).incidents()
        page = httpx.get(f"{url}/ui/incidents/{incident['id']}").text
        home = httpx.get(f"{url}/").text
        return page, home, AgentClient(url).incident(incident["id"])

    page, home, detail = with_running_api(tmp_path, check)
    for html in (page, home):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "\x1b" not in html and "\x07" not in html
        assert "\\x1b[31mred" in html  # the escape is shown, not obeyed
        assert "…(+" in html  # and the 100 KB cut, saying how much was left out
        assert len(html) < 60_000
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    # The API keeps the whole value; the timeline quotes a bounded part of it.
    assert len(detail["alerts"][0]["process"]["cmdline"]) == len(HOSTILE_CMDLINE)
    assert len(detail["timeline"][1]["cmdline"]) < 600


def test_profile_page_with_items_and_diff(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        sensor.push(exec_event("/bin/sh"))
        wait_until(agent.profiles.all)
        agent.lock(None)
        key = agent.profiles.all()[0].key
        agent.relearn(key)  # version 2 starts empty; version 1 is kept
        sensor.push(exec_event("/bin/cat"))
        wait_until(lambda: agent.profiles.all()[0].executables == {"/bin/cat"})
        agent.flush()
        versions = httpx.get(f"{url}/api/v1/profiles/versions", params={"workload": key}).json()
        assert [v["version"] for v in versions["versions"]] == [1, 2]
        diff = httpx.get(
            f"{url}/api/v1/profiles/diff", params={"a": f"{key}@1", "b": f"{key}@2"}
        ).json()
        assert diff["changes"]["executables"] == {"added": ["/bin/cat"], "removed": ["/bin/sh"]}
        page = httpx.get(f"{url}/ui/profiles/{key}", params={"from": 1, "to": 2}).text
        assert 'id="items-executables"' in page and "/bin/cat" in page
        assert '<li class="added">+ <code>/bin/cat</code></li>' in page
        assert '<li class="removed">− <code>/bin/sh</code></li>' in page
        assert "Version 1 → 2" in page

    with_running_api(tmp_path, check)
