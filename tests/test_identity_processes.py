from dataclasses import replace
from pathlib import Path

from tests.fakes import connect_event, exec_event
from vigil.identity.processes import ProcessTable


def test_connect_gets_the_program_of_its_pid_from_the_exec(tmp_path: Path) -> None:
    table = ProcessTable(str(tmp_path))
    table.complete(exec_event("/bin/wget", pid=77, cmdline="wget -q http://x/"))
    connect = connect_event("10.0.0.1", 80)

    connect = replace(connect, process=replace(connect.process, pid=77, exe="", cmdline=""))
    completed = table.complete(connect)
    assert completed.process.exe == "/bin/wget"
    assert completed.process.cmdline == "wget -q http://x/"


def test_older_processes_are_read_from_proc(tmp_path: Path) -> None:
    proc = tmp_path / "55"
    proc.mkdir()
    (proc / "exe").symlink_to("/usr/sbin/nginx")
    (proc / "cmdline").write_bytes(b"nginx: worker\0\xff\xfe\0")

    connect = connect_event("10.0.0.1", 80)
    connect = replace(connect, process=replace(connect.process, pid=55, exe="", cmdline=""))
    completed = ProcessTable(str(tmp_path)).complete(connect)
    assert completed.process.exe == "/usr/sbin/nginx"
    assert completed.process.cmdline == "nginx: worker \\xff\\xfe"


def test_unknown_pid_is_left_as_it_is(tmp_path: Path) -> None:

    connect = connect_event("10.0.0.1", 80)
    connect = replace(connect, process=replace(connect.process, exe=""))
    assert ProcessTable(str(tmp_path)).complete(connect) == connect
