"""Which file paths the kernel reports: prefixes matched in BPF before anything is sent.

Opens for read are reported below ``read`` prefixes (secrets, credentials); opens for write,
create or truncate, and renames and unlinks, below ``write`` prefixes (system and persistence
directories). Matching is on the path as the process passed it: relative paths (``openat`` with
a directory fd, or after ``chdir``) are not matched — a known gap, documented in README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vigil.errors import ConfigError

PREFIX_READ, PREFIX_WRITE = 1, 2
MAX_PREFIXES = 32
MAX_PREFIX_BYTES = 64

DEFAULT_READ = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/ssh/",
    "/root/.ssh/",
    "/etc/kubernetes/",
    "/var/run/secrets/",
    "/run/secrets/",
    "/etc/pam.d/",
)
DEFAULT_WRITE = (
    "/etc/",
    "/bin/",
    "/sbin/",
    "/usr/",
    "/lib/",
    "/lib64/",
    "/boot/",
    "/root/",
    "/var/spool/cron/",
    "/var/log/",
)


@dataclass(frozen=True, slots=True)
class WatchedPaths:
    read: tuple[str, ...] = DEFAULT_READ
    write: tuple[str, ...] = DEFAULT_WRITE

    def __post_init__(self) -> None:
        problem = self.check(self.read, self.write)
        if problem:
            raise ConfigError(problem)

    @staticmethod
    def check(read: tuple[str, ...], write: tuple[str, ...]) -> str | None:
        """Why these prefixes do not fit the kernel's table, or None."""
        if len(read) + len(write) > MAX_PREFIXES:
            return f"at most {MAX_PREFIXES} path prefixes (read + write) fit the kernel table"
        for path in (*read, *write):
            if not path.startswith("/"):
                return f"watched path {path[:60]!r} must be absolute"
            if len(os.fsencode(path)) > MAX_PREFIX_BYTES:
                return f"watched path {path[:60]!r} is longer than {MAX_PREFIX_BYTES} bytes"
        return None

    @classmethod
    def configured(
        cls, read: tuple[str, ...] | None, write: tuple[str, ...] | None
    ) -> WatchedPaths:
        """The configured prefixes; a side left out keeps its defaults."""
        return cls(
            read=DEFAULT_READ if read is None else read,
            write=DEFAULT_WRITE if write is None else write,
        )

    def entries(self) -> list[tuple[int, str]]:
        return [(PREFIX_READ, p) for p in self.read] + [(PREFIX_WRITE, p) for p in self.write]


DEFAULT_WATCH = WatchedPaths()
