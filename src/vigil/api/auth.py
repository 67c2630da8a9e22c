"""The API token (required when the agent listens beyond loopback) and request guards."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from starlette.requests import Request

TOKEN_FILE = "api-token"  # noqa: S105 - a file name, not a secret
#: the web UI's login keeps the token in this cookie (HttpOnly, SameSite=Strict)
TOKEN_COOKIE = "vigil_token"  # noqa: S105 - a cookie name, not a secret
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_or_create_token(data_dir: Path) -> str:
    """Read the token from the data dir, generating it (mode 0600) on first use."""
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def token_matches(offered: str, token: str) -> bool:
    return secrets.compare_digest(offered.encode(), token.encode())


def offers_token(request: Request, token: str) -> bool:
    """A bearer header (the CLI, scripts) or the UI's login cookie."""
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer ") and token_matches(header.removeprefix("Bearer "), token):
        return True
    cookie = request.cookies.get(TOKEN_COOKIE, "")
    return bool(cookie) and token_matches(cookie, token)


def cross_site_write(request: Request) -> bool:
    """A state-changing request sent by another site's page (CSRF), to be refused.

    Browsers name the page's origin on every cross-origin POST; the CLI sends no Origin.
    """
    if request.method in SAFE_METHODS:
        return False
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin not in (f"http://{host}", f"https://{host}")
