"""Every change to the agent's profiles, from anywhere (API, CLI, incidents, the flush timer).

A change is made in the profile book, pushed into the kernel's filter (locked profiles are
enforced there), handed to the store's writer and announced to the profile hooks, always in
that order. The book belongs to the event loop that runs the pipeline: a change asked for from
another thread (the store's writer applying a false-positive remedy, a test's thread) runs on
that loop, and the caller waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from vigil.detect.profiles import ItemKind, Profile, ProfileBook
from vigil.errors import truncate
from vigil.record.store import profile_row

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how long a change asked for from another thread waits for the loop
CROSS_THREAD_TIMEOUT = 60.0


class ProfileFilter(Protocol):
    """Pushes locked profiles into the sensor's kernel filter (vigil.sensor.kernel_filter)."""

    def sync(self, profiles: Sequence[Profile]) -> None: ...


class ProfileRecords(Protocol):
    """Where profiles are kept (vigil.record.store.Store)."""

    def save_profile_rows(
        self, current: list[dict[str, Any]], history: Sequence[dict[str, Any]] = ()
    ) -> None: ...


class QueuedWrites(Protocol):
    """The store's writer (vigil.record.writer.StoreWriter)."""

    def submit(self, what: str, write: Callable[[], Any]) -> None: ...


class ProfileService:
    def __init__(
        self,
        book: ProfileBook,
        records: ProfileRecords,
        writer: QueuedWrites,
        *,
        kernel_filter: ProfileFilter | None = None,
        hooks: Sequence[Callable[[Profile], None]] = (),
    ) -> None:
        self.book = book
        self._records = records
        self._writer = writer
        #: locked profiles are enforced in the kernel through this, when the sensor can
        self.kernel_filter = kernel_filter
        #: called with every profile that changed (learnt, locked, unlocked, relearnt,
        #: imported, amended) once it is handed to the store
        self.hooks = list(hooks)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Changes from other threads run on ``loop`` (the pipeline's) from now on."""
        self._loop, self._loop_thread = loop, threading.get_ident()

    # -- changes ---------------------------------------------------------------------------
    def lock(self, selector: str | None) -> list[Profile]:
        """Lock one workload's profile (``selector``) or all (``None``); returns those locked."""
        return self._change(lambda: self.book.lock(self._keys(selector)))

    def unlock(self, selector: str | None) -> list[Profile]:
        return self._change(lambda: self.book.unlock(self._keys(selector)))

    def relearn(self, selector: str | None) -> list[Profile]:
        return self._change(lambda: self.book.relearn(self._keys(selector)))

    def install(self, profile: Profile) -> Profile:
        return self._change(lambda: self.book.install(profile))

    def amend(self, key: str, items: Sequence[tuple[ItemKind, str]]) -> bool:
        """Install a new version of ``key``'s profile that knows ``items``; False without one."""

        def amended() -> bool:
            profile = self.book.get(key)
            if profile is None:
                return False
            copy = Profile.from_json(profile.to_json())
            for kind, item in items:
                copy.items(kind).add(item)
                # Reported once already; once known it is no deviation at all.
                copy.reported.discard(f"{kind.value}:{item}")
            self.book.install(copy)
            return True

        return self._change(amended)

    def tick(self) -> None:
        """The periodic pass: profiles that converged lock, then filter and store follow."""
        for profile in self.book.tick():
            log.info("profile %s locked (%s)", profile.key, profile.lock_reason)
        self.sync_filter()
        self.flush()

    def sync_filter(self) -> None:
        """Make the kernel filter match the locked profiles (cheap when nothing changed)."""
        if self.kernel_filter is None:
            return
        try:
            self.kernel_filter.sync(self.book.all())
        except Exception as exc:  # the filter only saves work; detection goes on without it
            log.error("could not update the kernel filter: %s", truncate(exc, 160))

    def flush(self) -> None:
        """Hand what changed to the store's writer, then announce it."""
        changed = self.book.take_dirty()
        superseded = self.book.take_superseded()
        if changed or superseded:
            current = [profile_row(p) for p in changed]
            history = [profile_row(p) for p in superseded]
            save = self._records.save_profile_rows
            self._writer.submit("profiles", lambda: save(current, history))
        self.announce(changed)

    def announce(self, profiles: list[Profile]) -> None:
        for profile in profiles:
            for hook in self.hooks:
                try:
                    hook(profile)
                except Exception as exc:
                    log.error("profile hook failed for %s: %s", profile.key, truncate(exc, 160))

    # -- where changes run -----------------------------------------------------------------
    def _keys(self, selector: str | None) -> list[str]:
        found = self.book.all() if selector is None else self.book.select(selector)
        return [p.key for p in found]

    def _change(self, change: Callable[[], T]) -> T:
        def then_sync() -> T:
            result = change()
            self.sync_filter()
            self.flush()
            return result

        loop = self._loop
        if loop is None or not loop.is_running() or threading.get_ident() == self._loop_thread:
            return then_sync()

        async def on_loop() -> T:
            return then_sync()

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(CROSS_THREAD_TIMEOUT)
