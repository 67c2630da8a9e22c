"""Thin ctypes bindings over the system ``libbpf.so.1``: just what the eBPF sensor uses.

libbpf ≥ 1.0 reports failures as NULL (pointer results, with ``errno`` set) or as a negative
error code (integer results). Both become :class:`SensorError` naming the step that failed;
``EPERM`` becomes :class:`PrivilegeError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from vigil.errors import PrivilegeError, SensorError, truncate

log = logging.getLogger("vigil.sensor.libbpf")

LIBBPF_SONAME = "libbpf.so.1"
PRIVILEGE_HINT = "run vigil as root (it needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)"
#: bound on one formatted libbpf message: a verifier log states its reason at the very end
MAX_MESSAGE = 1 << 20
#: what is kept of a warning (its end) to explain a failed load
KEPT_TAIL = 4096
#: verifier-log lines that are statistics, not reasons
_LOG_NOISE = ("processed ", "verification time", "stack depth", "-- END PROG", "-- BEGIN PROG")

# enum libbpf_print_level
_LIBBPF_WARN, _LIBBPF_INFO, _LIBBPF_DEBUG = 0, 1, 2
_LEVELS = {_LIBBPF_WARN: logging.WARNING, _LIBBPF_INFO: logging.INFO, _LIBBPF_DEBUG: logging.DEBUG}

# int (*)(enum libbpf_print_level, const char *fmt, va_list ap): va_list arrives as a pointer
# (x86-64: an array type that decays; arm64: a struct passed by reference), so c_void_p fits.
PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
# int (*)(void *ctx, void *data, size_t size)
SAMPLE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


class ObjectOpenOpts(ctypes.Structure):
    """The leading fields of ``struct bpf_object_open_opts`` (libbpf accepts a shorter ``sz``)."""

    _fields_ = (
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_removed_attach_prog_fd", ctypes.c_uint32),
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
    )


_keepalive: list[object] = []  # C callbacks handed to libbpf for the process lifetime
#: the last few libbpf warnings, quoted in load errors (the verifier's reason is in there)
recent_warnings: deque[str] = deque(maxlen=20)


@functools.cache
def lib() -> ctypes.CDLL:
    """Load libbpf once, declare the signatures we use, route its messages to logging."""
    try:
        handle = ctypes.CDLL(LIBBPF_SONAME, use_errno=True)
    except OSError as exc:
        raise SensorError(
            f"cannot load {LIBBPF_SONAME}: {exc}", hint="install it with: apt-get install libbpf1"
        ) from exc
    _declare(handle)
    print_callback = PRINT_FN(_on_libbpf_message)
    _keepalive.append(print_callback)
    handle.libbpf_set_print(print_callback)
    return handle


def _declare(h: ctypes.CDLL) -> None:
    vp, cp, i, u32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32
    signatures: dict[str, tuple[object, list[object]]] = {
        "libbpf_set_print": (vp, [PRINT_FN]),
        "libbpf_num_possible_cpus": (i, []),
        "bpf_object__open_file": (vp, [cp, vp]),
        "bpf_object__load": (i, [vp]),
        "bpf_object__close": (None, [vp]),
        "bpf_object__find_map_by_name": (vp, [vp, cp]),
        "bpf_object__next_program": (vp, [vp, vp]),
        "bpf_map__set_max_entries": (i, [vp, u32]),
        "bpf_map__fd": (i, [vp]),
        "bpf_map__value_size": (u32, [vp]),
        "bpf_map__max_entries": (u32, [vp]),
        "bpf_program__name": (cp, [vp]),
        "bpf_program__fd": (i, [vp]),
        "bpf_program__attach": (vp, [vp]),
        "bpf_link__destroy": (i, [vp]),
        "bpf_map_lookup_elem": (i, [i, vp, vp]),
        "bpf_map_update_elem": (i, [i, vp, vp, ctypes.c_uint64]),
        "bpf_map_delete_elem": (i, [i, vp]),
        "bpf_map_get_next_key": (i, [i, vp, vp]),
        "ring_buffer__new": (vp, [i, SAMPLE_FN, vp, vp]),
        "ring_buffer__epoll_fd": (i, [vp]),
        "ring_buffer__consume": (i, [vp]),
        "ring_buffer__poll": (i, [vp, i]),
        "ring_buffer__free": (None, [vp]),
    }
    for name, (restype, argtypes) in signatures.items():
        func = getattr(h, name)
        func.restype = restype
        func.argtypes = argtypes


_libc = ctypes.CDLL(None, use_errno=True)
_libc.vsnprintf.restype = ctypes.c_int
_libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]


def _on_libbpf_message(level: int, fmt: bytes | None, args: int | None) -> int:
    with contextlib.suppress(Exception):  # called from C: nothing may escape
        # Loading sends thousands of debug messages: only format what is kept or logged.
        if level != _LIBBPF_WARN and not log.isEnabledFor(_LEVELS.get(level, logging.DEBUG)):
            return 0
        # A buffer per message: a kept one would hold its megabyte (room for a verifier log)
        # for the agent's whole life.
        buffer = ctypes.create_string_buffer(MAX_MESSAGE)
        _libc.vsnprintf(buffer, MAX_MESSAGE, fmt, args)
        message = buffer.value.decode("utf-8", "backslashreplace").rstrip()
        del buffer
        if message:
            if level == _LIBBPF_WARN:
                recent_warnings.append(message[-KEPT_TAIL:])
            log.log(_LEVELS.get(level, logging.DEBUG), "libbpf: %s", truncate(message, 500))
    return 0


def failure(step: str, err: int) -> SensorError | PrivilegeError:
    """The error for ``step`` failing with errno ``err`` (positive)."""
    name = errno.errorcode.get(err, str(err))
    detail = f"{step} failed: {os.strerror(err)} ({name})"
    if err == errno.EPERM:  # not EACCES: that is how the verifier rejects a program
        return PrivilegeError(detail, hint=PRIVILEGE_HINT)
    return SensorError(detail)


def check_ptr(ptr: int | None, step: str) -> int:
    """``ptr`` if non-NULL, else the step's error from errno."""
    if not ptr:
        raise failure(step, ctypes.get_errno() or errno.EINVAL)
    return ptr


def check_rc(rc: int, step: str) -> int:
    """``rc`` if not negative, else the step's error (libbpf returns -errno)."""
    if rc < 0:
        raise failure(step, -rc)
    return rc


def verifier_reason() -> str:
    """The last libbpf warnings, joined and bounded: usually says why a program did not load."""
    lines = [
        line.strip()
        for message in recent_warnings
        for line in message.splitlines()
        if line.strip() and not line.startswith(_LOG_NOISE)
    ]
    return truncate(" | ".join(lines[-4:]), 600)


# -- small typed wrappers ------------------------------------------------------------------------


def open_object(path: Path, btf_custom_path: Path | None = None) -> int:
    opts = None
    if btf_custom_path is not None:
        opts = ObjectOpenOpts(
            sz=ctypes.sizeof(ObjectOpenOpts), btf_custom_path=str(btf_custom_path).encode()
        )
    ptr = lib().bpf_object__open_file(
        str(path).encode(), ctypes.byref(opts) if opts is not None else None
    )
    return check_ptr(ptr, f"open BPF object {path}")


def load_object(obj: int) -> None:
    recent_warnings.clear()
    rc = lib().bpf_object__load(obj)
    if rc < 0:
        error = failure("load BPF object", -rc)
        if -rc == errno.EAGAIN:  # the verifier gives up on a pending signal (libbpf retried)
            raise SensorError(
                f"{error.message}: the verifier was interrupted by signals each time libbpf"
                " tried (a debugger or profiler attached?); start vigil again"
            )
        reason = verifier_reason()
        if reason and not isinstance(error, PrivilegeError):
            error = SensorError(f"{error.message}: {reason}")
        raise error


def find_map(obj: int, name: str) -> int:
    ptr = lib().bpf_object__find_map_by_name(obj, name.encode())
    if not ptr:
        raise SensorError(f"BPF object has no map named {name!r}")
    return int(ptr)


def programs(obj: int) -> Iterator[tuple[str, int]]:
    """(name, bpf_program pointer) of every program in the object."""
    prog = lib().bpf_object__next_program(obj, None)
    while prog:
        name = lib().bpf_program__name(prog)
        yield (name.decode() if name else "?"), int(prog)
        prog = lib().bpf_object__next_program(obj, prog)


def close_object(obj: int) -> None:
    """Free the object: its maps and programs go once nothing else holds them."""
    lib().bpf_object__close(obj)


def set_max_entries(obj: int, map_name: str, entries: int, step: str) -> None:
    """Size a map before the object is loaded."""
    check_rc(lib().bpf_map__set_max_entries(find_map(obj, map_name), entries), step)


def object_map_fd(obj: int, name: str) -> int:
    """The fd of a loaded object's map ``name``."""
    return check_rc(lib().bpf_map__fd(find_map(obj, name)), f"fd of map {name}")


def program_fd(prog: int) -> int:
    return int(lib().bpf_program__fd(prog))


def attach_program(prog: int, name: str) -> int:
    return check_ptr(lib().bpf_program__attach(prog), f"attach program {name}")


def destroy_link(link: int) -> bool:
    """Detach a program; False when the kernel refused."""
    return bool(lib().bpf_link__destroy(link) >= 0)


def percpu_u64_sum(map_fd: int, key: int) -> int:
    """Sum over all possible CPUs of a per-CPU map's 64-bit value at ``key``."""
    ncpus = check_rc(lib().libbpf_num_possible_cpus(), "count possible CPUs")
    values = (ctypes.c_uint64 * ncpus)()
    k = ctypes.c_uint32(key)
    rc = lib().bpf_map_lookup_elem(map_fd, ctypes.byref(k), values)
    if rc < 0:
        raise failure(f"read per-CPU map key {key}", ctypes.get_errno() or -rc)
    return sum(values)


SampleHandler = Callable[[bytes], int | None]


def make_sample_callback(handler: SampleHandler) -> object:
    """A C ring-buffer callback that copies each record and hands it to ``handler``.

    The caller must keep the returned object alive as long as the ring buffer exists.
    """

    def on_sample(_ctx: int | None, data: int | None, size: int) -> int:
        try:
            # a negative result stops ring_buffer__consume (the record itself is consumed)
            return handler(ctypes.string_at(data, size) if data else b"") or 0
        except Exception:  # a C callback must not raise; the handler counts its own failures
            log.exception("ring buffer handler failed")
        return 0

    return SAMPLE_FN(on_sample)


BPF_ANY = 0


def map_write(map_fd: int, key: bytes, value: bytes) -> int:
    """Write one entry of a (non per-CPU) map: 0, or the errno of the failure."""
    rc = lib().bpf_map_update_elem(map_fd, key, value, BPF_ANY)
    return 0 if rc >= 0 else ctypes.get_errno() or -rc


def map_update(map_fd: int, key: bytes, value: bytes, step: str) -> None:
    """Write one entry of a (non per-CPU) map; the step's error when it fails."""
    err = map_write(map_fd, key, value)
    if err:
        raise failure(step, err)


def map_lookup(map_fd: int, key: bytes, value_size: int) -> bytes | None:
    """One entry of a (non per-CPU) map; None when it is not there."""
    value = ctypes.create_string_buffer(value_size)
    if lib().bpf_map_lookup_elem(map_fd, key, value) < 0:
        return None
    return value.raw


def map_delete(map_fd: int, key: bytes) -> bool:
    """Delete one entry; False when it was not there."""
    return bool(lib().bpf_map_delete_elem(map_fd, key) == 0)


def map_items(map_fd: int, key_size: int, value_size: int, limit: int) -> list[tuple[bytes, bytes]]:
    """Up to ``limit`` (key, value) pairs of a hash map (entries may change while we walk)."""
    items: list[tuple[bytes, bytes]] = []
    key = ctypes.create_string_buffer(key_size)
    value = ctypes.create_string_buffer(value_size)
    previous: ctypes.Array[ctypes.c_char] | None = None
    while len(items) < limit:
        if lib().bpf_map_get_next_key(map_fd, previous, key) < 0:
            break
        if lib().bpf_map_lookup_elem(map_fd, key, value) == 0:
            items.append((key.raw, value.raw))
        previous = ctypes.create_string_buffer(key.raw, key_size)
    return items


# -- libbpf's ring-buffer reader (vigil.sensor.ringbuf.LibbpfRingBuffer) --------------------------


def ring_buffer_new(map_fd: int, callback: object) -> int:
    """A reader calling ``callback`` (from :func:`make_sample_callback`) with each record."""
    return check_ptr(
        lib().ring_buffer__new(map_fd, callback, None, None), "create ring buffer reader"
    )


def ring_buffer_epoll_fd(ring: int) -> int:
    return check_rc(lib().ring_buffer__epoll_fd(ring), "ring buffer epoll fd")


def ring_buffer_consume(ring: int) -> int:
    """Records handed to the callback, or a negative errno (or the callback's negative value)."""
    return int(lib().ring_buffer__consume(ring))


def ring_buffer_free(ring: int) -> None:
    lib().ring_buffer__free(ring)
