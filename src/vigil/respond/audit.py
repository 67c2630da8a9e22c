"""An append-only, hash-chained audit log of every response decision and action.

One JSON object per line in ``<data-dir>/audit.jsonl``. Each entry carries ``prev`` (the hash of
the entry before it, or 64 zeros for the first) and ``hash`` (SHA-256 over ``prev`` and the
entry's canonical JSON without ``hash``), so editing, dropping, inserting or reordering any line
breaks the chain at that line, and :func:`verify` names it.

The chain proves integrity relative to its head: someone able to rewrite the whole file can
forge a new chain. Shipping entries off the host (an output) is what guards against that.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.errors import StoreError, truncate
from vigil.models import rfc3339, utcnow

AUDIT_FILE = "audit.jsonl"
GENESIS = "0" * 64


def entry_hash(prev: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev.encode() + b"\n" + canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Broken:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def _problem(raw: bytes, prev: str, seq: int) -> tuple[str | None, str]:
    """(what is wrong with this line, or None; its hash)."""
    if not raw.endswith(b"\n"):
        return "truncated line (no newline)", ""
    try:
        entry = json.loads(raw)
    except ValueError:
        return "not valid JSON", ""
    if not isinstance(entry, dict):
        return "not a JSON object", ""
    claimed = str(entry.pop("hash", ""))
    problem = None
    if entry.get("prev") != prev:
        problem = "prev does not match the entry before"
    elif entry.get("seq") != seq:
        problem = f"seq {truncate(entry.get('seq'), 20)}, expected {seq}"
    elif claimed != entry_hash(prev, entry):
        problem = "hash does not match the entry's content"
    return problem, claimed


def verify(path: Path) -> Verification:
    """Walk the chain from the first line; stop at the first entry that does not hold."""
    prev = GENESIS
    count = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            problem, digest = _problem(raw, prev, count + 1)
            if problem is not None:
                return Verification(count, Broken(number, problem))
            prev = digest
            count += 1
    return Verification(count, None)


class AuditLog:
    """Appends entries; thread-safe (actions run in worker threads as well as on the loop)."""

    def __init__(self, path: Path, *, clock: Callable[[], str] | None = None) -> None:
        self.path = path
        self._clock = clock or (lambda: rfc3339(utcnow()))
        self._lock = threading.Lock()
        self._prev, self._seq = self._tail()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> AuditLog:
        return cls(data_dir / AUDIT_FILE)

    def _tail(self) -> tuple[str, int]:
        """The last entry's hash and seq, so the chain goes on across restarts."""
        if not self.path.exists():
            return GENESIS, 0
        last = b""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                tail = handle.read().splitlines()
                last = tail[-1] if tail else b""
        except OSError as exc:
            raise StoreError(f"cannot read audit log {self.path}: {exc.strerror}") from None
        if not last:
            return GENESIS, 0
        try:
            entry = json.loads(last)
            return str(entry["hash"]), int(entry["seq"])
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"the last line of audit log {self.path} is damaged",
                hint="run `vigil audit verify` and move the file aside; it is left untouched",
            ) from None

    def record(
        self,
        *,
        actor: str,
        event: str,
        why: str = "",
        target: dict[str, Any] | None = None,
        outcome: str = "",
        detail: str = "",
        latency_ms: float | None = None,
        alert_id: str | None = None,
        action_id: str | None = None,
    ) -> dict[str, Any]:
        """Append one entry: who (``actor``), what (``event``), why, on what, how it went."""
        with self._lock:
            body: dict[str, Any] = {
                "seq": self._seq + 1,
                "time": self._clock(),
                "actor": truncate(actor, 120),
                "event": event,
                "why": truncate(why, 300),
                "target": target or {},
                "outcome": outcome,
                "detail": truncate(detail, 300),
                "latency_ms": None if latency_ms is None else round(latency_ms, 3),
                "alert_id": alert_id,
                "action_id": action_id,
                "prev": self._prev,
            }
            body["hash"] = entry_hash(self._prev, body)
            line = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            # O_APPEND: every write lands at the end, even with another writer.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
            self._prev = body["hash"]
            self._seq += 1
            return body

    def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` entries, newest last."""
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().splitlines()[-limit:]
        result = []
        for raw in lines:
            try:
                result.append(json.loads(raw))
            except ValueError:
                result.append({"damaged": truncate(raw, 80)})
        return result
