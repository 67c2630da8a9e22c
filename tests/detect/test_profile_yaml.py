"""Profiles as code: export → import round-trips; bad files are refused with file:line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.profiles import learnt_book
from tests.fixtures.traces import read_trace
from vigil.api.profile_views import describe
from vigil.detect.profile_yaml import diff_profiles, dump_profile, load_profile
from vigil.errors import ConfigError


def test_export_then_import_round_trips() -> None:
    book, _ = learnt_book(read_trace("bursty-reports.jsonl"))
    (profile,) = book.all()
    text = dump_profile(describe(book, profile))
    assert text.startswith("# vigil profile of shop/Deployment/reports/worker, version 1")
    document = yaml.safe_load(text)
    assert document["destinations"] == sorted(profile.destinations)
    imported = load_profile(text, "reports.yaml")
    assert imported.workload == profile.workload
    assert imported.content() == profile.content()
    assert imported.resolved == profile.resolved
    assert (imported.state, imported.image) == (profile.state, profile.image)
    # a second round gives the same text
    again = book.install(imported)
    assert dump_profile(describe(book, again)).split("\n", 2)[2] == text.split("\n", 2)[2].replace(
        "version: 1", "version: 2"
    )


BAD = """\
apiVersion: vigil/v1
kind: Profile
workload: {namespace: shop, kind: Deployment, name: web, container: web}
state: frozen
executables:
  - /bin/sh
  - bin/relative
destinations: [tcp/10.0.0.1:443, tcp/999.0.0.1:443, nonsense]
users: [root]
listening: [tcp/99999]
processes: ["/bin/sh /bin/ls"]
colour: blue
"""


def test_every_problem_is_reported_with_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile(BAD, "web.yaml")
    lines = str(caught.value).splitlines()
    assert lines == [
        "web.yaml:4:8: state must be 'learning' or 'locked'",
        "web.yaml:7:5: executables: 'bin/relative' must start with an absolute path",
        "web.yaml:8:34: destinations: 'tcp/999.0.0.1:443' '999.0.0.1' is not an address or a CIDR",
        "web.yaml:8:53: destinations: 'nonsense' must read 'PROTOCOL/ADDRESS:PORT', "
        "e.g. tcp/10.0.0.7:443 or tcp/10.0.0.0/24:443",
        "web.yaml:9:9: users: 'root' must be a numeric uid",
        "web.yaml:10:13: listening: 'tcp/99999' must read 'PROTOCOL/PORT', e.g. tcp/8080",
        "web.yaml:11:13: processes: '/bin/sh /bin/ls' must read 'PARENT -> CHILD' "
        "with absolute paths",
        "web.yaml:12:1: unknown key 'colour' (known: apiVersion, kind, workload, version, image, "
        "state, partial, executables, processes, arguments, users, destinations, dns, "
        "listening, file_writes, resolved)",
    ]
    assert caught.value.exit_code == 2


def test_missing_header_and_broken_yaml() -> None:
    with pytest.raises(ConfigError, match=r"p.yaml:1:1: missing apiVersion"):
        load_profile(
            "kind: Profile\nworkload: {namespace: a, kind: b, name: c, container: d}\n", "p.yaml"
        )
    with pytest.raises(ConfigError, match=r"p.yaml:2:2: not valid YAML"):
        load_profile("a: [1\nb: c: d\n", "p.yaml")


def test_cli_import_refuses_a_bad_file_with_exit_2_before_calling_the_agent(tmp_path: Path) -> None:
    bad = tmp_path / "web.yaml"
    bad.write_text(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "profiles", "import", str(bad), "--api", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{bad}:4:8: state must be 'learning' or 'locked'" in result.stderr
    assert "no vigil agent answers" not in result.stderr
    assert "Traceback" not in result.stderr


def test_diff_lists_what_was_added_and_removed() -> None:
    book, _ = learnt_book(read_trace("steady-web.jsonl"))
    (profile,) = book.all()
    old = describe(book, profile)
    edited = load_profile(dump_profile(old))
    edited.executables.discard("/bin/sleep")
    edited.executables.add("/usr/bin/curl")
    new = describe(book, book.install(edited))
    result = diff_profiles(old, new)
    assert result["old"].endswith("@1") and result["new"].endswith("@2")
    assert result["changes"] == {
        "executables": {"added": ["/usr/bin/curl"], "removed": ["/bin/sleep"]}
    }
