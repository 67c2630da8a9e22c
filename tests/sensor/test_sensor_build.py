"""Compiling the BPF programs: clear errors, and a cache that only rebuilds when it must."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from vigil.errors import SensorError
from vigil.sensor import records
from vigil.sensor.build import (
    DEFAULT_BTF,
    OBJECT_NAME,
    SOURCE_DIR,
    SOURCES,
    build_object,
    cache_key,
    kernel_arch,
)

needs_toolchain = pytest.mark.skipif(
    not (shutil.which("clang") and shutil.which("bpftool") and DEFAULT_BTF.is_file()),
    reason="needs clang, bpftool and /sys/kernel/btf/vmlinux",
)


def test_missing_btf_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-vmlinux"
    with pytest.raises(SensorError) as caught:
        build_object(tmp_path / "cache", btf_path=missing)
    message = str(caught.value)
    assert f"{missing} not found" in message
    assert "CONFIG_DEBUG_INFO_BTF" in message
    assert "\n" not in message
    assert not (tmp_path / "cache").exists()


def test_missing_compiler_names_the_package(tmp_path: Path) -> None:
    btf = tmp_path / "btf"
    btf.write_bytes(b"not really btf")
    with pytest.raises(SensorError) as caught:
        build_object(tmp_path / "cache", btf_path=btf, clang="vigil-no-such-clang")
    assert "vigil-no-such-clang not found" in str(caught.value)
    assert "apt-get install" in str(caught.value)


def test_missing_bpftool_names_the_package(tmp_path: Path) -> None:
    btf = tmp_path / "btf"
    btf.write_bytes(b"not really btf")
    with pytest.raises(SensorError, match="apt-get install bpftool"):
        build_object(tmp_path / "cache", btf_path=btf, bpftool="bpftool-missing")


def test_unknown_architecture_is_refused() -> None:
    assert kernel_arch("x86_64") == "x86"
    assert kernel_arch("aarch64") == "arm64"
    with pytest.raises(SensorError, match="unsupported CPU architecture"):
        kernel_arch("pdp11")


def test_cache_key_follows_sources_btf_and_arch(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, sources)
    btf_a, btf_b = tmp_path / "a", tmp_path / "b"
    btf_a.write_bytes(b"kernel A")
    btf_b.write_bytes(b"kernel B")
    base = cache_key(sources, btf_a, "x86")
    assert cache_key(sources, btf_a, "x86") == base
    assert cache_key(sources, btf_b, "x86") != base
    assert cache_key(sources, btf_a, "arm64") != base
    (sources / SOURCES[-1]).write_text((sources / SOURCES[-1]).read_text() + "\n/* edit */\n")
    assert cache_key(sources, btf_a, "x86") != base


@needs_toolchain
def test_second_build_reuses_the_cached_object(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build_object(cache)
    assert not first.cached
    assert first.path.name == OBJECT_NAME
    assert first.path.read_bytes()[:4] == b"\x7fELF"
    mtime = first.path.stat().st_mtime_ns

    second = build_object(cache)
    assert second.cached
    assert second.path == first.path
    assert second.path.stat().st_mtime_ns == mtime


@needs_toolchain
def test_changed_sources_rebuild_and_prune_the_old_build(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    sources = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, sources)
    old = build_object(cache, source_dir=sources)
    (sources / "vigil.bpf.c").write_text(
        (sources / "vigil.bpf.c").read_text() + "\n/* a comment is a change */\n"
    )
    new = build_object(cache, source_dir=sources)
    assert not new.cached
    assert new.path != old.path
    assert new.path.is_file()
    assert not old.path.parent.exists()


@needs_toolchain
def test_compile_errors_are_quoted_briefly(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, sources)
    (sources / "vigil.bpf.c").write_text(
        '#include "vmlinux.h"\nint broken(void) { return undeclared_thing; }\n'
    )
    with pytest.raises(SensorError) as caught:
        build_object(tmp_path / "cache", source_dir=sources)
    message = str(caught.value)
    assert message.startswith("clang failed")
    assert "undeclared_thing" in message
    assert "vigil.bpf.c:2" in message
    assert len(message) < 1500


LAYOUT_PROGRAM = r"""
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "events.h"
int main(void) {
    printf("%zu %zu %d %zu %zu %zu %zu %d %zu %d\n",
           sizeof(struct vigil_header), offsetof(struct vigil_exec, data), VIGIL_EXEC_DATA,
           sizeof(struct vigil_connect), offsetof(struct vigil_connect, addr),
           sizeof(struct vigil_socket), offsetof(struct vigil_syscall, data), VIGIL_SYSCALL_DATA,
           sizeof(struct vigil_task), VIGIL_ARGS_MAX);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang")
def test_decoder_layout_matches_events_h(tmp_path: Path) -> None:
    """records.py's struct formats describe the same bytes as the C structs in events.h."""
    source = tmp_path / "layout.c"
    source.write_text(LAYOUT_PROGRAM)
    binary = tmp_path / "layout"
    subprocess.run(
        ["clang", f"-I{SOURCE_DIR}", str(source), "-o", str(binary)], check=True, timeout=60
    )
    (
        header,
        exec_data_at,
        exec_room,
        connect_size,
        addr_at,
        socket_size,
        syscall_data_at,
        syscall_room,
        task_size,
        args_max,
    ) = map(
        int,
        subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split(),
    )
    assert header == records.HEADER.size
    assert exec_data_at == records.EXEC_DATA
    assert args_max == records.ARGS_MAX
    assert connect_size >= records.CONNECT_SIZE
    assert addr_at == records.CONNECT_SIZE - 16
    assert records.SOCKET_SIZE <= socket_size < records.SOCKET_SIZE + 8  # tail padding
    assert syscall_data_at == records.SYSCALL_DATA
    assert task_size == records.TASK_SIZE
    # The BPF side masks a string's offset with (room / 2 - 1): every real offset must be below
    # that (all the strings fit in half the room, whatever their order), and a masked offset plus
    # the longest string must still fit the room.
    exec_strings = records.EXEC_SIZE - records.EXEC_DATA
    assert exec_strings <= exec_room // 2
    assert exec_room // 2 - 1 + records.ARGS_MAX <= exec_room
    syscall_strings = records.SYSCALL_SIZE - records.SYSCALL_DATA
    assert syscall_strings <= syscall_room // 2
    assert syscall_room // 2 - 1 + records.PATH_MAX <= syscall_room


def test_libbpf_messages_are_formatted_only_when_kept_or_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctypes

    from vigil.sensor import libbpf

    # a va_list to go with formats that convert nothing (vsnprintf copies it all the same)
    no_args = ctypes.create_string_buffer(64)
    args = ctypes.addressof(no_args)
    buffers: list[int] = []  # a loaded program sends thousands: each formatted costs 1 MiB
    make_buffer = ctypes.create_string_buffer

    def counted(size: int) -> ctypes.Array[ctypes.c_char]:
        buffers.append(size)
        return make_buffer(size)

    monkeypatch.setattr(ctypes, "create_string_buffer", counted)
    caplog.set_level(logging.INFO, logger="vigil.sensor.libbpf")
    libbpf.recent_warnings.clear()
    libbpf._on_libbpf_message(2, b"debug chatter of a load\n", args)  # LIBBPF_DEBUG: skipped
    assert buffers == []
    libbpf._on_libbpf_message(1, b"an info line\n", args)
    libbpf._on_libbpf_message(0, b"a warning\n", args)
    logged = [r.getMessage() for r in caplog.records if r.name == "vigil.sensor.libbpf"]
    assert logged == ["libbpf: an info line", "libbpf: a warning"]
    assert list(libbpf.recent_warnings) == ["a warning"]
    caplog.set_level(logging.DEBUG, logger="vigil.sensor.libbpf")
    libbpf._on_libbpf_message(2, b"debug chatter of a load\n", args)
    assert caplog.records[-1].getMessage() == "libbpf: debug chatter of a load"
