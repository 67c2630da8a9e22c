"""Untrusted bytes (argv, paths, DNS names) as printable text: invalid UTF-8 and control
characters are backslash-escaped, and whether anything had to be is told, so that such rewriting
is flagged along with real truncation."""

from __future__ import annotations

import ipaddress

from vigil.sensor.records import AF_INET


def walked_path(components: bytes) -> str:
    """A dentry walk's components (leaf first, NUL-terminated) as an absolute path."""
    parts = [p for p in components.split(b"\0") if p]
    return "/" + "/".join(part.decode("utf-8", "surrogateescape") for part in reversed(parts))


def os_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def argv_text(args: bytes) -> tuple[str, bool]:
    """NUL-separated argv → one space-separated line, and whether anything had to be escaped."""
    if args.endswith(b"\0"):
        args = args[:-1]  # the last argument's terminator; a truncated argv has none
    return safe_text(args.replace(b"\0", b" "))


def safe_text(raw: bytes) -> tuple[str, bool]:
    """Printable text from untrusted bytes, and whether any byte had to be escaped."""
    try:
        text = raw.decode("utf-8")
        escaped = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "backslashreplace")
        escaped = True
    if text.isprintable():
        return text, escaped
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text), True


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def ip_text(family: int, addr: bytes) -> str:
    if family == AF_INET:
        return str(ipaddress.IPv4Address(addr[:4]))
    ip = ipaddress.IPv6Address(addr[:16])
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d, spelled the way people write it
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)
