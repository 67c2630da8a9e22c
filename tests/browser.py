"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright; never downloads one.

Every request the page makes is recorded, so tests can show it talked to the agent only; every
JavaScript dialog is recorded too (an injected ``alert()`` would show up there).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported where used: a missing Playwright skips, not errors
    from playwright.sync_api import ConsoleMessage, Dialog, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class Browsing:
    page: Page
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def chromium_page(profile_dir: Path) -> Iterator[Browsing]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (scripts/install.sh --dev)")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/install.sh --dev)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),  # a fresh user-data-dir for every test
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            seen = Browsing(page)
            page.on("request", lambda request: seen.requests.append(request.url))

            def on_dialog(dialog: Dialog) -> None:
                seen.dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    seen.console_errors.append(message.text)

            page.on("console", on_console)
            yield seen
        finally:
            context.close()
